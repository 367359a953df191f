from pathlib import Path

import jinja2
import pytest
from starlette.requests import Request

from vibetuner.frontend._static import HashedStatics
from vibetuner.frontend._templating import PageTemplates as Templates


@pytest.fixture
def templates(tmp_path: Path) -> Templates:
    project = tmp_path / "templates"
    (project / "pages").mkdir(parents=True)
    (project / "pages" / "list.html.jinja").write_text(
        '{% extends "base/skeleton.html.jinja" %}'
        "{% block content %}<h1>{{ heading }}</h1>"
        "<ul>{% block items %}{% for i in items %}<li>{{ i }}</li>{% endfor %}{% endblock %}</ul>"
        "{% endblock %}"
    )
    return Templates(project, HashedStatics(tmp_path / "statics"), globals={"project_name": "T"})


def _request(headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_full_page_uses_the_framework_skeleton(templates: Templates) -> None:
    html = templates.render_to_string("pages/list.html.jinja", {"heading": "Hi", "items": [1]})
    assert html.startswith("<!DOCTYPE html>")
    assert "<h1>Hi</h1>" in html and "<li>1</li>" in html
    assert "/static/missing/css/bundle.css" in html
    assert 'name="htmx-config"' in html


def test_block_renders_alone_with_the_same_context(templates: Templates) -> None:
    html = templates.render_to_string("pages/list.html.jinja", {"items": [1, 2]}, block="items")
    assert html == "<li>1</li><li>2</li>"


def test_unknown_block_is_an_error(templates: Templates) -> None:
    with pytest.raises(jinja2.TemplateError, match="no block 'nope'"):
        templates.render_to_string("pages/list.html.jinja", {}, block="nope")


def test_project_templates_override_the_framework(tmp_path: Path, templates: Templates) -> None:
    override = tmp_path / "templates" / "base" / "skeleton.html.jinja"
    override.parent.mkdir()
    override.write_text("CUSTOM {% block content %}{% endblock %}")
    fresh = Templates(tmp_path / "templates", HashedStatics(tmp_path / "statics"))
    html = fresh.render_to_string("pages/list.html.jinja", {"heading": "x", "items": []})
    assert html.startswith("CUSTOM")


def test_htmx_block_only_for_partial_htmx_requests(templates: Templates) -> None:
    context = {"heading": "Hi", "items": ["a"]}
    partial = templates.render(
        _request({"HX-Request": "true"}), "pages/list.html.jinja", context, htmx_block="items"
    )
    assert partial.body == b"<li>a</li>"
    assert partial.headers["vary"] == "HX-Request"
    full = templates.render(_request(), "pages/list.html.jinja", context, htmx_block="items")
    assert b"<!DOCTYPE html>" in full.body
    boosted = templates.render(
        _request({"HX-Request": "true", "HX-Boosted": "true"}),
        "pages/list.html.jinja",
        context,
        htmx_block="items",
    )
    assert b"<!DOCTYPE html>" in boosted.body


def test_output_is_autoescaped(templates: Templates) -> None:
    html = templates.render_to_string(
        "pages/list.html.jinja", {"items": ["<script>"]}, block="items"
    )
    assert html == "<li>&lt;script&gt;</li>"


def test_live_reload_adds_its_client(tmp_path: Path) -> None:
    names = {"project_name": "T"}
    debug = Templates(None, HashedStatics(tmp_path), live_reload=True, globals=names)
    assert "/__vibetuner__/livereload" in debug.render_to_string("base/skeleton.html.jinja")
    quiet = Templates(None, HashedStatics(tmp_path), debug=True, globals=names)
    assert "livereload" not in quiet.render_to_string("base/skeleton.html.jinja")
