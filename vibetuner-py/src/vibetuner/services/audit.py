"""Writing the audit log: one entry per change, with a field-by-field before/after diff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beanie import PydanticObjectId

from vibetuner.data.models.audit import AuditEntry

_MISSING = object()


def diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """The fields whose value differs, as `{field: {"before": old, "after": new}}`; a field
    absent on one side shows there as None."""
    old, new = before or {}, after or {}
    changes: dict[str, dict[str, Any]] = {}
    for name in sorted({*old, *new}):
        was, now = old.get(name, _MISSING), new.get(name, _MISSING)
        if was != now:
            changes[name] = {"before": None if was is _MISSING else was,
                             "after": None if now is _MISSING else now}  # fmt: skip
    return changes


async def record(
    action: str,
    *,
    actor_id: PydanticObjectId | str | None = None,
    actor_email: str | None = None,
    target: str | None = None,
    target_id: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Store one audit entry; `before`/`after` are plain (JSON-able) field mappings."""
    entry = AuditEntry(
        action=action,
        actor_id=PydanticObjectId(actor_id) if actor_id else None,
        actor_email=actor_email,
        target=target,
        target_id=target_id,
        changes=diff(before, after),
        request_id=request_id,
        ip=ip,
    )
    await entry.insert()
    return entry
