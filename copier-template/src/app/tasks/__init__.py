"""Background jobs: `vibetuner run worker` imports this package and runs its `@task`s.

Import every task module here. In dev without REDIS_URL, jobs run inside the web process.
"""

from app.tasks.summary import summarize

__all__ = ["summarize"]
