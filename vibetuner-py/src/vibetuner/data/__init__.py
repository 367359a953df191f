"""Data: the MongoDB and Redis connections, the embedded MongoDB-wire server, the framework's
models and the migrations that change them."""
