"""Benchmark harness: compares a Vibetuner app against raw Starlette + Jinja2."""
