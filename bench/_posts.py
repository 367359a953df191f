"""The database-backed posts partial: seeding it and estimating the DB's share."""

from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench import _mongo
from bench._servers import Running, serial_latency_ms
from bench._signin import csrf_of

HX = {"HX-Request": "true"}


def seed(client: httpx.Client, count: int, warnings: list[str]) -> dict[str, Any]:
    """Post as the signed-in bench user, with the page's CSRF token, as htmx would."""
    statuses: Counter[int] = Counter()
    headers = {**HX, "X-CSRF-Token": csrf_of(client.get("/posts").text)}
    for number in range(count):
        form = {"content": f"Benchmark post {number}"}
        statuses[client.post("/posts", data=form, headers=headers).status_code] += 1
    bad = {code: n for code, n in statuses.items() if not 200 <= code < 300}
    if bad:
        warnings.append(f"seeding POST /posts got non-2xx statuses {bad}")
    return {"posted": count, "statuses": dict(statuses)}


def db_share(
    server: Running, python: Path, db_url: str, collection: str, warnings: list[str]
) -> dict[str, Any]:
    """Compare one request to the partial with one run of its query, both serial.

    Both are measured back to back on a single connection with nothing else
    running, so the ratio is the share of an unloaded request spent in the DB
    (round trip plus server time, from a pymongo AsyncMongoClient).
    """
    serial_ms = serial_latency_ms(server.port, "/posts", HX, seconds=3.0)
    query = _mongo.query_latency(python, db_url, collection, seconds=3.0)
    if not query["docs_returned"]:
        warnings.append(f"collection {collection!r} is empty: check --posts-collection")
    return {
        "collection": collection,
        "query_mean_ms": query["mean_ms"],
        "query_docs": query["docs_returned"],
        "partial_serial_ms": serial_ms,
        "share_of_serial": query["mean_ms"] / serial_ms,
    }
