"""Business logic shared by routes and tasks (e.g. `services/billing.py`)."""
