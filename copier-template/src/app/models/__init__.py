"""Beanie documents. List every one in MODELS: the app registers exactly these."""

from app.models.post import Post

MODELS = [Post]

__all__ = ["MODELS", "Post"]
