import httpx

from app.tasks import summarize


async def test_example_job_runs_and_returns_its_result(client: httpx.AsyncClient) -> None:
    """Without REDIS_URL the job runs in this process, with the same API as on a worker."""
    handle = await summarize.enqueue("two words\nand three more")
    assert await handle.result(timeout=10) == {"words": 5, "lines": 2}
    assert await handle.status() == "done"
