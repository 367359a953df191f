"""An example job: slow work (reports, emails, imports) moved out of the request."""

from vibetuner import task


@task(retries=3, backoff=2.0, timeout=60)
async def summarize(text: str) -> dict[str, int]:
    """Count the words and lines of `text`; `await summarize.enqueue(text)` queues it."""
    return {"words": len(text.split()), "lines": len(text.splitlines())}
