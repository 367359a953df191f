"""The admin's pages: index, list, detail, create, edit, delete and bulk actions.

Every route answers 404 to anyone but a signed-in admin, exactly as a path that does not
exist, so the admin's existence is not revealed. Changes are POSTs (the CSRF middleware
checks each) and each one is written to the audit log with its before/after diff.
"""

from __future__ import annotations

from typing import Annotated, Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vibetuner.frontend._admin import _save
from vibetuner.frontend._admin._fields import plain, read_form, shown, widget
from vibetuner.frontend._admin._query import Page, decode_cursor, fetch, order, read_query
from vibetuner.frontend._admin._registry import AdminModel, find, registered
from vibetuner.frontend._deps import user_of
from vibetuner.frontend._errors import validation_messages
from vibetuner.frontend._htmx import htmx, hx_redirect
from vibetuner.frontend._templating import get_templates, render_template
from vibetuner.i18n import _
from vibetuner.services.sessions import SessionUser

ADMIN_ROLE = "admin"
PREFIX = "/admin"
NO_STORE = {"Cache-Control": "no-store"}


async def admin_only(request: Request) -> SessionUser:
    """The signed-in admin; anyone else gets the same 404 as a missing page."""
    user = user_of(request)
    if not isinstance(user, SessionUser) or ADMIN_ROLE not in user.roles:
        raise HTTPException(404)
    return user


router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(admin_only)])
Admin = Annotated[SessionUser, Depends(admin_only)]


def _entry(slug: str, *, writable: bool = False) -> AdminModel:
    entry = find(slug)
    if entry is None or (writable and entry.read_only):
        raise HTTPException(404)
    return entry


async def _document(entry: AdminModel, doc_id: str) -> Any:
    try:
        found = await entry.model.get(PydanticObjectId(doc_id))
    except (InvalidId, TypeError, ValueError):
        found = None
    if found is None:
        raise HTTPException(404)
    return found


def _page(
    request: Request, entry: AdminModel | None, page: str, context: dict[str, Any], **options: Any
) -> HTMLResponse:
    """Render `admin/<slug>/<page>` if the app has it, else `admin/<page>`."""
    names = [f"admin/{entry.slug}/{page}", f"admin/{page}"] if entry else [f"admin/{page}"]
    name = get_templates().env.select_template(names).name or names[-1]
    values = {"models": registered(), "entry": entry, "shown": shown, **context}
    if entry is not None:
        values.setdefault("widgets", _widgets(entry))
    headers = {**NO_STORE, **options.pop("headers", {})}
    return render_template(request, name, values, headers=headers, **options)


def _widgets(entry: AdminModel) -> list[Any]:
    fields = entry.fields()
    return [widget(name, fields[name]) for name in entry.form_fields]


def _columns(entry: AdminModel) -> list[Any]:
    fields = entry.fields()
    return [widget(name, fields[name]) for name in entry.list_fields if name in fields]


def _back(request: Request, url: str) -> Response:
    return hx_redirect(url) if htmx(request) else RedirectResponse(url, status_code=303)


@router.get("", name="admin_index")
async def index(request: Request) -> HTMLResponse:
    return _page(request, None, "index.html.jinja", {})


@router.get("/{slug}", name="admin_list")
async def list_view(request: Request, slug: str) -> HTMLResponse:
    entry = _entry(slug)
    query = read_query(entry, request.query_params)
    page: Page = await fetch(entry, query)
    column, descending = order(entry, query)
    context = {
        "query": query,
        "page": page,
        "columns": _columns(entry),
        "filter_widgets": [widget(n, entry.fields()[n]) for n in entry.filters],
        "params": dict(request.query_params),
        "first_params": {k: v for k, v in request.query_params.items() if k != "after"},
        "sorted_by": column,
        "descending": descending,
    }
    return _page(request, entry, "list.html.jinja", context, htmx_block="results")


@router.get("/{slug}/new", name="admin_new")
async def new_form(request: Request, slug: str) -> HTMLResponse:
    entry = _entry(slug, writable=True)
    return _page(request, entry, "form.html.jinja", {"document": None, "values": {}, "errors": {}})


@router.post("/{slug}/new", name="admin_create")
async def create(request: Request, slug: str, user: Admin) -> Response:
    entry = _entry(slug, writable=True)
    widgets = _widgets(entry)
    values, problems = read_form(widgets, await request.form(), entry.fields())
    try:
        if problems:
            raise _save.FormProblems(problems)
        document = await _save.create(entry, values)
    except (ValidationError, _save.FormProblems) as exc:
        return _invalid(request, entry, None, values, exc)
    await _save.audit(
        request, user, "admin.create", entry, document, None, plain(document, entry.form_fields)
    )
    return _back(request, f"{PREFIX}/{slug}/{document.id}")


@router.post("/{slug}/bulk", name="admin_bulk")
async def bulk(request: Request, slug: str, user: Admin) -> Response:
    """Bulk delete (after a confirm page) or a declared action, on the ticked documents."""
    entry = _entry(slug, writable=True)
    form = await request.form()
    action = str(form.get("action") or "")
    ids = [str(v) for v in form.getlist("ids")]
    if action != "delete" and action not in entry.actions:
        raise HTTPException(400, _("Choose an action."))
    if not ids:
        raise HTTPException(400, _("Tick at least one row first."))
    documents = [await _document(entry, each) for each in ids]
    if action == "delete" and form.get("confirmed") != "yes":
        context = {"documents": documents, "ids": ids}
        return _page(request, entry, "bulk_confirm.html.jinja", context)
    if action == "delete":
        for document in documents:
            before = plain(document, entry.form_fields)
            await _save.delete(entry, document)
            await _save.audit(request, user, "admin.delete", entry, document, before, None)
    else:
        befores = [plain(d, entry.form_fields) for d in documents]
        await entry.actions[action](documents)
        for document, before in zip(documents, befores, strict=True):
            fresh = await entry.model.get(document.id)
            after = plain(fresh, entry.form_fields) if fresh is not None else None
            await _save.audit(
                request, user, f"admin.action.{action}", entry, document, before, after
            )
    return _back(request, f"{PREFIX}/{slug}")


@router.get("/{slug}/{doc_id}", name="admin_detail")
async def detail(request: Request, slug: str, doc_id: str) -> HTMLResponse:
    entry = _entry(slug)
    document = await _document(entry, doc_id)
    fields = entry.fields()
    rows = [(widget(n, fields[n]), getattr(document, n)) for n in fields]
    return _page(request, entry, "detail.html.jinja", {"document": document, "rows": rows})


@router.get("/{slug}/{doc_id}/edit", name="admin_edit")
async def edit_form(request: Request, slug: str, doc_id: str) -> HTMLResponse:
    entry = _entry(slug, writable=True)
    document = await _document(entry, doc_id)
    values = {n: getattr(document, n) for n in entry.form_fields}
    return _page(
        request, entry, "form.html.jinja", {"document": document, "values": values, "errors": {}}
    )


@router.post("/{slug}/{doc_id}/edit", name="admin_update")
async def update(request: Request, slug: str, doc_id: str, user: Admin) -> Response:
    entry = _entry(slug, writable=True)
    document = await _document(entry, doc_id)
    before = plain(document, entry.form_fields)
    values, problems = read_form(_widgets(entry), await request.form(), entry.fields())
    try:
        if problems:
            raise _save.FormProblems(problems)
        document = await _save.update(entry, document, values)
    except (ValidationError, _save.FormProblems) as exc:
        return _invalid(request, entry, document, values, exc)
    await _save.audit(
        request, user, "admin.update", entry, document, before, plain(document, entry.form_fields)
    )
    return _back(request, f"{PREFIX}/{slug}/{document.id}")


@router.get("/{slug}/{doc_id}/delete", name="admin_confirm_delete")
async def confirm_delete(request: Request, slug: str, doc_id: str) -> HTMLResponse:
    entry = _entry(slug, writable=True)
    document = await _document(entry, doc_id)
    return _page(request, entry, "delete.html.jinja", {"document": document})


@router.post("/{slug}/{doc_id}/delete", name="admin_delete")
async def delete(request: Request, slug: str, doc_id: str, user: Admin) -> Response:
    entry = _entry(slug, writable=True)
    document = await _document(entry, doc_id)
    before = plain(document, entry.form_fields)
    await _save.delete(entry, document)
    await _save.audit(request, user, "admin.delete", entry, document, before, None)
    return _back(request, f"{PREFIX}/{slug}")


def _invalid(
    request: Request, entry: AdminModel, document: Any, values: dict[str, Any], exc: Exception
) -> HTMLResponse:
    """The form again, with the model's own messages beside each field, as a 422."""
    errors: dict[str, list[str]] = {}
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            where = str(error["loc"][0]) if error.get("loc") else ""
            errors.setdefault(where if where in entry.form_fields else "", []).extend(
                validation_messages([error])
            )
    else:
        errors[""] = list(exc.args[0])
    context = {"document": document, "values": values, "errors": errors}
    return _page(request, entry, "form.html.jinja", context, status_code=422, htmx_block="form")


__all__ = ["ADMIN_ROLE", "PREFIX", "admin_only", "decode_cursor", "router"]
