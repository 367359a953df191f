"""The web app: `app.frontend:app` is what Granian serves."""

from vibetuner.frontend import create_app
from vibetuner.frontend.middleware import setup_middleware

from app.frontend.routes import home, posts
from app.models import MODELS

app = create_app(models=MODELS)
setup_middleware(app)

app.include_router(home.router)
app.include_router(posts.router)
