"""Which models the admin shows and how: one `register_admin` call (or decorator) per model.

A registration is checked when it is made: every search and sort field must lead one of the
model's declared indexes (`Settings.indexes`), so no admin page can turn into a scan of the
collection, however large it grows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from vibetuner.exceptions import ConfigError

if TYPE_CHECKING:
    from beanie import Document

D = TypeVar("D", bound="Document")

Action = Callable[[list[Any]], Awaitable[object]]
"""A bulk action: called with the chosen documents; what it returns is ignored."""

ID_FIELDS = ("_id", "id")


@dataclass(frozen=True)
class AdminModel:
    """One model in the admin: what its pages list, search, sort, filter and allow."""

    model: type[Any]
    slug: str
    label: str
    list_fields: tuple[str, ...]
    search_fields: tuple[str, ...] = ()
    sort_fields: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    form_fields: tuple[str, ...] = ()
    actions: Mapping[str, Action] = field(default_factory=dict)
    read_only: bool = False
    page_size: int = 25

    def fields(self) -> dict[str, Any]:
        """The model's pydantic fields, without Beanie's bookkeeping."""
        return {
            name: info
            for name, info in self.model.model_fields.items()
            if name not in ("id", "revision_id")
        }


_registry: dict[str, AdminModel] = {}


def registered() -> list[AdminModel]:
    """The registered models, the framework's first, then the app's in registration order."""
    _framework_models()
    return list(_registry.values())


def find(slug: str) -> AdminModel | None:
    _framework_models()
    return _registry.get(slug)


def unregister(slug: str) -> None:
    """Forget a registration (tests register throwaway models)."""
    _registry.pop(slug, None)


def indexed_fields(model: type[Any]) -> set[str]:
    """Fields that lead one of the model's declared indexes (plus `_id`): a range or an
    equality on them, sorted by them, is answered from the index."""
    settings = getattr(model, "Settings", None)
    leading: set[str] = {"_id", "id"}
    for index in getattr(settings, "indexes", None) or []:
        keys: Any = (
            getattr(index, "document", {}).get("key") if hasattr(index, "document") else index
        )
        if isinstance(keys, str):
            leading.add(keys)
        elif isinstance(keys, Mapping):
            leading.add(next(iter(keys)))
        elif isinstance(keys, Sequence) and keys:
            first = keys[0]
            leading.add(first if isinstance(first, str) else first[0])
    return leading


@overload
def register_admin(model: type[D], **options: Any) -> type[D]: ...
@overload
def register_admin(model: None = None, **options: Any) -> Callable[[type[D]], type[D]]: ...
def register_admin(model: type[D] | None = None, **options: Any) -> Any:
    """Show a Beanie document in `/admin`: `register_admin(Post, search_fields=["title"])`,
    or `@register_admin(search_fields=["title"])` above the class.

    Options: `list_fields` (columns; the first few fields by default), `search_fields`
    (prefix match on strings, equality otherwise; each must lead an index), `sort_fields`
    (each must lead an index), `filters` (equality filters on these fields), `form_fields`
    (editable fields; all by default), `actions` (name -> async function of the chosen
    documents, offered beside bulk delete), `read_only`, `page_size`, `label`, `slug`.
    """
    if model is None:

        def decorate(cls: type[D]) -> type[D]:
            return register_admin(cls, **options)

        return decorate
    entry = _build(model, **options)
    _registry[entry.slug] = entry
    return model


def _build(
    model: type[Any],
    *,
    list_fields: Iterable[str] | None = None,
    search_fields: Iterable[str] = (),
    sort_fields: Iterable[str] = (),
    filters: Iterable[str] = (),
    form_fields: Iterable[str] | None = None,
    actions: Mapping[str, Action] | None = None,
    read_only: bool = False,
    page_size: int = 25,
    label: str | None = None,
    slug: str | None = None,
) -> AdminModel:
    settings = getattr(model, "Settings", None)
    name = slug or getattr(settings, "name", None) or model.__name__.lower()
    known = [n for n in model.model_fields if n not in ("id", "revision_id")]
    where = f"register_admin({model.__name__})"

    def checked(names: Iterable[str], what: str, *, index: bool = False) -> tuple[str, ...]:
        chosen = tuple(names)
        for each in chosen:
            if each not in known and each not in ID_FIELDS:
                raise ConfigError(
                    f"{where}: {what} {each!r} is not a field of {model.__name__}.",
                    fix=f"Use one of: {', '.join(known)}.",
                )
            if index and each not in indexed_fields(model):
                raise ConfigError(
                    f"{where}: {what} {each!r} has no index, so it would scan the collection.",
                    fix=f"Add pymongo.IndexModel([({each!r}, 1)]) to "
                    f"{model.__name__}.Settings.indexes.",
                )
        return chosen

    return AdminModel(
        model=model,
        slug=name,
        label=label or model.__name__,
        list_fields=checked(list_fields if list_fields is not None else known[:4], "list field"),
        search_fields=checked(search_fields, "search field", index=True),
        sort_fields=checked(sort_fields, "sort field", index=True),
        filters=checked(filters, "filter"),
        form_fields=checked(form_fields if form_fields is not None else known, "form field"),
        actions=dict(actions or {}),
        read_only=read_only,
        page_size=page_size,
    )


def _framework_models() -> None:
    """The framework's own: users (roles and activation through services.users) and the
    audit log (read-only)."""
    if "users" in _registry and "audit_log" in _registry:
        return
    from vibetuner.data.models.audit import AuditEntry  # beanie: loads with the database
    from vibetuner.data.models.user import User

    framework = {
        "users": _build(
            User,
            list_fields=("email", "name", "roles", "is_active", "created_at"),
            search_fields=("email",),
            filters=("is_active", "roles"),
            form_fields=("email", "name", "locale", "is_active", "roles"),
        ),
        "audit_log": _build(
            AuditEntry,
            label="Audit log",
            list_fields=("at", "actor_email", "action", "target", "target_id"),
            sort_fields=("at",),
            filters=("action", "target"),
            read_only=True,
        ),
    }
    merged = {**framework, **{k: v for k, v in _registry.items() if k not in framework}}
    _registry.clear()
    _registry.update(merged)
