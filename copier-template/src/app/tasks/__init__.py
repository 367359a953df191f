"""Background jobs: async functions that run outside the request."""
