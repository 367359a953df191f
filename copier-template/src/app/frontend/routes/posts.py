"""The posts feed: a full page, "load more" partials, an htmx form, inline editing and
deleting by the author, and live updates (SSE). Pages of the feed come from a cache that
every write refreshes (see app.services.feed)."""

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from beanie import PydanticObjectId
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.background import BackgroundTask
from vibetuner import (
    EventStreamResponse,
    SessionUser,
    SignedIn,
    broadcast,
    htmx,
    hx_redirect,
    hx_reswap,
    hx_retarget,
    hx_trigger,
    render_template,
    render_to_string,
    sse_response,
    validation_messages,
)
from vibetuner import gettext as _

from app.models import Post
from app.models.post import PostCard, PostIn
from app.services.feed import Page, cached_page

router = APIRouter(prefix="/posts")

PAGE_SIZE = 10
TEMPLATE = "frontend/posts/index.html.jinja"
ITEM = "frontend/posts/_item.html.jinja"
EDIT = "frontend/posts/edit.html.jinja"
CHANNEL = "posts"
NO_POSTS_GONE = '<p id="no-posts" hx-swap-oob="delete"></p>'
CARD = set(PostCard.model_fields)


async def _page(before: PydanticObjectId | None) -> tuple[list[PostCard], str | None]:
    """One page of posts, newest first, and the cursor of the next page (if any)."""

    async def load() -> Page:
        query = Post.find(Post.id < before) if before else Post.find()
        posts = await query.sort(-Post.id).limit(PAGE_SIZE + 1).to_list()
        cursor = str(posts[PAGE_SIZE - 1].id) if len(posts) > PAGE_SIZE else None
        shown = [post.model_dump(mode="json", include=CARD) for post in posts[:PAGE_SIZE]]
        return {"posts": shown, "next": cursor}

    page = await cached_page(str(before or "first"), load)
    return [PostCard.model_validate(raw) for raw in page["posts"]], page["next"]


@router.get("", response_class=HTMLResponse)
async def list_posts(
    request: Request, before: Annotated[PydanticObjectId | None, Query()] = None
) -> HTMLResponse:
    posts, cursor = await _page(before)
    context = {"posts": posts, "next_cursor": cursor, "errors": []}
    return render_template(request, TEMPLATE, context, htmx_block="items")


@router.get("/live", response_class=EventStreamResponse)
async def live_posts(request: Request) -> EventStreamResponse:
    """New posts as Server-Sent Events; the page's `hx-sse:connect` prepends each one."""
    return sse_response(request, CHANNEL)


async def _announce(post: Post) -> None:
    """Show the new post to every open feed, on every instance (Redis) or this one."""
    item = render_to_string(ITEM, {"post": post, "live": True})
    await broadcast(CHANNEL, item + NO_POSTS_GONE)


@router.post("", response_class=HTMLResponse)
async def create_post(
    request: Request,
    user: SignedIn,
    content: Annotated[str, Form()] = "",
) -> Response:
    """Only signed-in users post; visitors are sent to sign in first."""
    try:
        data = PostIn(content=content)
    except ValidationError as exc:
        errors = validation_messages(exc.errors())
        if htmx(request):
            response = render_template(
                request, TEMPLATE, {"errors": errors}, block="form_errors", status_code=422
            )
            return hx_reswap(hx_retarget(response, "#post-form-errors"), "innerHTML")
        posts, cursor = await _page(None)
        context = {"posts": posts, "next_cursor": cursor, "errors": errors, "content": content}
        return render_template(request, TEMPLATE, context, status_code=422)
    author = PydanticObjectId(user.id)
    post = Post(content=data.content, author_id=author, author_name=user.display_name)
    await post.insert()
    # Announced once the author's own response is sent, so it reaches their page first.
    announce = BackgroundTask(_announce, post)
    if not htmx(request):
        return RedirectResponse("/posts", status_code=303, background=announce)
    response = render_template(request, TEMPLATE, {"post": post}, block="created")
    response.background = announce
    return hx_trigger(response, "post-created")


async def _post(post_id: PydanticObjectId) -> Post:
    post = await Post.get(post_id)
    if post is None:
        raise HTTPException(404, _("This post does not exist (any more)."))
    return post


async def _own_post(post_id: PydanticObjectId, user: SessionUser) -> Post:
    """The post, if this user wrote it: 404 when there is none, 403 when it is someone else's."""
    post = await _post(post_id)
    if post.author_id is None or str(post.author_id) != user.id:
        raise HTTPException(403, _("You can only edit or delete your own posts."))
    return post


@router.get("/{post_id:objectid}", response_class=HTMLResponse)
async def show_post(request: Request, post_id: PydanticObjectId) -> Response:
    """One post as a list item (htmx: "Cancel" in the edit form); pages go to the feed."""
    post = await _post(post_id)
    if not htmx(request):
        return RedirectResponse(f"/posts#post-{post.id}", status_code=303)
    return render_template(request, ITEM, {"post": post})


@router.get("/{post_id:objectid}/edit", response_class=HTMLResponse)
async def edit_post(request: Request, post_id: PydanticObjectId, user: SignedIn) -> Response:
    """The edit form: in place of the item for htmx, as its own page otherwise."""
    post = await _own_post(post_id, user)
    return render_template(request, EDIT, {"post": post, "errors": []}, htmx_block="form")


@router.post("/{post_id:objectid}", response_class=HTMLResponse)
async def update_post(
    request: Request,
    post_id: PydanticObjectId,
    user: SignedIn,
    content: Annotated[str, Form()] = "",
) -> Response:
    """Save the author's edit: htmx gets the updated item back, a form post the feed."""
    post = await _own_post(post_id, user)
    try:
        data = PostIn(content=content)
    except ValidationError as exc:
        context = {"post": post, "errors": validation_messages(exc.errors()), "content": content}
        return render_template(request, EDIT, context, htmx_block="form", status_code=422)
    post.content = data.content
    post.edited_at = datetime.now(UTC)
    await post.save()
    if not htmx(request):
        return RedirectResponse(f"/posts#post-{post.id}", status_code=303)
    return render_template(request, ITEM, {"post": post})


@router.post("/{post_id:objectid}/delete", response_class=HTMLResponse)
async def delete_post(request: Request, post_id: PydanticObjectId, user: SignedIn) -> Response:
    """The author deletes a post: htmx swaps the item for nothing, a form post gets the feed
    (so does htmx on the edit form's own page, which would be left empty)."""
    post = await _own_post(post_id, user)
    await post.delete()
    if not htmx(request):
        return RedirectResponse("/posts", status_code=303)
    if urlsplit(htmx(request).current_url or "").path.endswith("/edit"):
        return hx_redirect("/posts")
    return HTMLResponse("")
