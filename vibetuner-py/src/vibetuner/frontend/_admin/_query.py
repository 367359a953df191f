"""The list's queries: filters, an indexed search, and keyset (cursor) pagination.

Pages never skip or count: each page asks for the documents after the last one shown, in
the order of an index, so the first page and the hundredth cost the same on any size of
collection. Searches are a prefix range (`$gte q`, `$lt q + U+FFFF`) or an equality on an
indexed field, never a regular expression.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId, json_util
from bson.errors import BSONError, InvalidId
from starlette.exceptions import HTTPException

from vibetuner.frontend._admin._fields import INT64, base_type, parse_scalar
from vibetuner.frontend._admin._registry import AdminModel
from vibetuner.i18n import _

HIGHEST = "\uffff"


@dataclass(frozen=True)
class ListQuery:
    """What the list was asked for, read from its query string."""

    sort: str = "-_id"
    q: str = ""
    search_field: str = ""
    filters: tuple[tuple[str, str], ...] = ()
    after: str = ""


@dataclass(frozen=True)
class Page:
    documents: list[Any]
    next_cursor: str | None
    sort_field: str
    descending: bool


def read_query(entry: AdminModel, params: Any) -> ListQuery:
    """The list's parameters, each checked against the registration (400 otherwise)."""
    sort = params.get("sort") or default_sort(entry)
    if sort.lstrip("-") not in ("_id", *entry.sort_fields):
        raise HTTPException(400, _("This list cannot be sorted by %(field)s.") % {"field": sort})
    search_field = params.get("field") or (entry.search_fields[0] if entry.search_fields else "")
    q = (params.get("q") or "").strip()
    if q and search_field not in entry.search_fields:
        raise HTTPException(
            400, _("This list cannot be searched by %(field)s.") % {"field": search_field}
        )
    filters = tuple((name, params[name]) for name in entry.filters if params.get(name, "") != "")
    return ListQuery(sort, q, search_field, filters, params.get("after") or "")


def default_sort(entry: AdminModel) -> str:
    return f"-{entry.sort_fields[0]}" if entry.sort_fields else "-_id"


def _column(name: str) -> str:
    return "_id" if name in ("id", "_id") else name


def base_filter(entry: AdminModel, query: ListQuery) -> dict[str, Any]:
    """Equality filters and the search, as one MongoDB filter."""
    clauses: dict[str, Any] = {}
    fields = entry.model.model_fields
    for name, raw in query.filters:
        clauses[name] = _typed(base_type(fields[name].annotation), raw)
    if query.q:
        column = _column(query.search_field)
        kind = str if column != "_id" else ObjectId
        if column != "_id":
            kind = base_type(fields[query.search_field].annotation)
        if kind is str:
            clauses[column] = {"$gte": query.q, "$lt": query.q + HIGHEST}
        else:
            clauses[column] = _typed(kind, query.q)
    return clauses


def _typed(kind: Any, raw: str) -> Any:
    try:
        return (
            ObjectId(raw)
            if kind is ObjectId or getattr(kind, "__name__", "") == "PydanticObjectId"
            else parse_scalar(kind, raw)
        )
    except (InvalidId, ValueError, TypeError) as exc:
        raise HTTPException(
            400, _("%(value)s is not a valid search for this field.") % {"value": raw}
        ) from exc


def order(entry: AdminModel, query: ListQuery) -> tuple[str, bool]:
    """The column the page is ordered by, and whether descending. A search is ordered by
    the searched field, so the index that answers the range also gives the order."""
    if query.q and _column(query.search_field) != "_id":
        return query.search_field, False
    return _column(query.sort.lstrip("-")), query.sort.startswith("-")


async def fetch(entry: AdminModel, query: ListQuery) -> Page:
    """One page of documents after `query.after`, plus the cursor to the next page."""
    column, descending = order(entry, query)
    direction = -1 if descending else 1
    clauses = base_filter(entry, query)
    if query.after:
        clauses = {"$and": [clauses, _after(column, descending, decode_cursor(query.after))]}
    sort = [(column, direction)] if column == "_id" else [(column, direction), ("_id", direction)]
    documents = await entry.model.find(clauses).sort(sort).limit(entry.page_size + 1).to_list()
    more = len(documents) > entry.page_size
    documents = documents[: entry.page_size]
    next_cursor = encode_cursor(documents[-1], column) if more and documents else None
    return Page(documents, next_cursor, column, descending)


def _after(column: str, descending: bool, last: tuple[Any, ObjectId]) -> dict[str, Any]:
    """The rows after the last one shown. Empty values (null or missing) sort lowest, and a
    comparison with a value never matches them (nor one with null any value): so they are
    named apart, after every value when descending, before every value when ascending."""
    op = "$lt" if descending else "$gt"
    value, last_id = last
    if column == "_id":
        return {"_id": {op: last_id}}
    same = {column: value, "_id": {op: last_id}}
    if value is None:
        return same if descending else {"$or": [same, {column: {"$ne": None}}]}
    beyond = [{column: {op: value}}, same]
    return {"$or": [*beyond, {column: None}] if descending else beyond}


def encode_cursor(document: Any, column: str) -> str:
    value = document.id if column == "_id" else getattr(document, column)
    raw = json_util.dumps([value, document.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ObjectId]:
    """The last row of the previous page; a cursor that was not made here is a 400."""
    invalid = HTTPException(400, _("This page link is not valid: go back to the first page."))
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, last_id = json_util.loads(raw)
    except (ValueError, TypeError, binascii.Error, BSONError, OverflowError, RecursionError):
        raise invalid from None  # BSONError: a bad $oid or $date; RecursionError: deep nesting
    if not isinstance(last_id, ObjectId) or not isinstance(
        value, str | int | float | bool | datetime | ObjectId | None
    ):
        raise invalid
    if isinstance(value, int) and value not in INT64:
        raise invalid
    return value, last_id
