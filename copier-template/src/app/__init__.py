"""The application package.."""
