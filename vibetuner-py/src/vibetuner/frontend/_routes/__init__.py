"""The framework's own routers: health checks and, in debug, live reload."""
