"""One module per area of the site, each with an `APIRouter` named `router`."""
