"""The MongoDB-wire server (SecantusDB) the app under test talks to.

Every pymongo call runs in the app's own venv through `python -c`, so the
harness venv needs no database driver.
"""

import json
import subprocess
import time
from pathlib import Path

from bench._procs import Child, Processes, RunFailed, free_port, wait_tcp

_PING = """
import sys, pymongo
client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=2000)
client.admin.command("ping")
"""

_QUERY_BENCH = """
import asyncio, json, sys, time
from pymongo import AsyncMongoClient, DESCENDING

async def main(url, collection, seconds):
    client = AsyncMongoClient(url)
    posts = client.get_default_database()[collection]
    query = lambda: posts.find().sort("_id", DESCENDING).limit(20).to_list()
    for _ in range(20):
        docs = await query()
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await query()
        samples.append(time.perf_counter() - started)
    await client.close()
    samples.sort()
    print(json.dumps({
        "queries": len(samples),
        "docs_returned": len(docs),
        "mean_ms": sum(samples) / len(samples) * 1000,
        "p50_ms": samples[len(samples) // 2] * 1000,
    }))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


def start(
    procs: Processes, python: Path, storage: Path, timeout: float = 60.0
) -> tuple[Child, str]:
    """Start SecantusDB and wait for TCP plus a pymongo ping; return (child, base URL)."""
    port = free_port()
    argv = [str(python), "-m", "secantus", "--host", "127.0.0.1", "--port", str(port)]
    child = procs.start(
        "secantus", [*argv, "--storage-path", str(storage)], cwd=storage
    )
    wait_tcp(child, port, timeout)
    url = f"mongodb://127.0.0.1:{port}"
    deadline = time.perf_counter() + timeout
    while True:
        ping = subprocess.run(
            [str(python), "-c", _PING, url], capture_output=True, text=True, check=False
        )
        if ping.returncode == 0:
            return child, url
        if time.perf_counter() > deadline:
            raise RunFailed(f"SecantusDB never answered ping:\n{ping.stderr}")
        time.sleep(0.1)


def query_latency(
    python: Path, db_url: str, collection: str, seconds: float
) -> dict[str, float]:
    """Mean latency of the posts-partial query, run back to back on one connection."""
    done = subprocess.run(
        [str(python), "-c", _QUERY_BENCH, db_url, collection, str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RunFailed(f"DB micro-benchmark failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return result
