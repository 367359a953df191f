"""Form fields from a pydantic model: which input each field gets, and reading it back.

Reading a form only turns text into the shapes pydantic expects (a checkbox into a bool, a
comma-separated line into a list); the model's own validation decides what is valid, and
its messages are what the form shows.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from vibetuner.i18n import _

NONE_TYPE = type(None)
INT64 = range(-(2**63), 2**63)
"""The integers MongoDB stores: a wider one is refused when read, not when written."""


def base_type(annotation: Any) -> Any:
    """The annotation without `None` (`str | None` is `str`)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not NONE_TYPE]
        if len(rest) == 1:
            return base_type(rest[0])
    return annotation


def _optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (
        typing.Union,
        types.UnionType,
    ) and NONE_TYPE in typing.get_args(annotation)


def choices(kind: Any) -> list[str] | None:
    if typing.get_origin(kind) is typing.Literal:
        return [str(v) for v in typing.get_args(kind)]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [str(m.value) for m in kind]
    if kind is bool:
        return ["true", "false"]
    return None


@dataclass(frozen=True)
class Widget:
    name: str
    label: str
    kind: str
    """checkbox, number, datetime, list, select, json, textarea or text."""
    choices: list[str] | None
    required: bool


def widget(name: str, info: Any) -> Widget:
    kind = base_type(info.annotation)
    origin = typing.get_origin(kind)
    if kind is bool:
        shape = "checkbox"
    elif kind in (int, float):
        shape = "number"
    elif kind in (datetime, date):
        shape = "datetime"
    elif origin in (list, tuple, set) and typing.get_args(kind)[:1] == (str,):
        shape = "list"
    elif choices(kind) is not None:
        shape = "select"
    elif kind is str:
        limit = next(
            (
                getattr(m, "max_length", None)
                for m in info.metadata
                if getattr(m, "max_length", None)
            ),
            None,
        )
        shape = "textarea" if limit is None or limit > 200 else "text"
        shape = "text" if name in ("email", "name", "title", "slug") else shape
    elif isinstance(kind, type) and kind.__name__ in ("PydanticObjectId", "ObjectId"):
        shape = "text"
    else:
        shape = "json"
    label = name.replace("_", " ").capitalize()
    return Widget(name, label, shape, choices(kind), info.is_required())


def shown(value: Any, shape: str) -> str:
    """A value as its input shows it."""
    if value is None:
        return ""
    if shape == "list":
        return ", ".join(str(v) for v in value)
    if shape == "json":
        return json.dumps(value, default=str, indent=2)
    if shape == "datetime" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_form(
    widgets: list[Widget], form: Any, model_fields: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The submitted values in pydantic's shapes, and messages for what could not be read."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for each in widgets:
        raw = form.get(each.name)
        if each.kind == "checkbox":
            values[each.name] = raw is not None and raw != "false"
            continue
        text = str(raw).strip() if raw is not None else ""
        if text == "" and (_optional(model_fields[each.name].annotation) or not each.required):
            values[each.name] = (
                None
                if _optional(model_fields[each.name].annotation)
                else model_fields[each.name].get_default(call_default_factory=True)
            )
            continue
        if each.kind == "list":
            values[each.name] = [part.strip() for part in text.split(",") if part.strip()]
        elif each.kind == "json":
            try:
                values[each.name] = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: thousands of nested [
                problems.append(_("%(label)s: not valid JSON.") % {"label": _(each.label)})
        else:
            values[each.name] = text
    return values, problems


def parse_scalar(kind: Any, raw: str) -> Any:
    """A filter's or search's text as the field's type (`true` for a bool, a number...)."""
    if kind is bool:
        return raw.lower() in ("true", "1", "yes", "on")
    if kind is int:
        number = int(raw)
        if number not in INT64:
            raise ValueError(f"{raw} is out of range")
        return number
    if kind is float:
        return float(raw)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(raw).value
    return raw


def plain(document: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The fields as JSON-able values, for the audit log's before/after."""
    dumped = document.model_dump(mode="json", include=set(names))
    return {name: dumped.get(name) for name in names}
