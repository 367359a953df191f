"""A generated app, end to end: install, own tests, assets, and `run prod` over real HTTP."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pymongo
import pytest

from tests._scaffold import (
    DATABASE,
    ROOT,
    VIBETUNER,
    clean_env,
    run,
    serving_dev,
    serving_prod,
)
from vibetuner import __version__
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.testing import MAGIC_CONFIRM, csrf_token_of, local_redis, sign_in_form_of
from vibetuner.testing._mail import SMTPSink
from vibetuner.testing._required import everything_required, missing

pytestmark = pytest.mark.slow

HX = {"HX-Request": "true"}
PROD_SESSION = "__Host-vt_session"
"""Prod's cookies are Secure, so the session cookie's name carries `__Host-`."""


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None:
        missing("npm is not installed (Node.js 20+ is needed to build assets)")
    dest = tmp_path_factory.mktemp("scaffold") / "e2e-app"
    run([VIBETUNER, "scaffold", "new", str(dest), "--defaults", "--data", "project_name=E2E App"],
         cwd=dest.parent)  # fmt: skip
    return dest


def test_generated_tree(app_dir: Path) -> None:
    for path in (
        "src/app/__init__.py", "src/app/frontend/__init__.py", "src/app/frontend/routes",
        "src/app/models", "src/app/services", "src/app/tasks", "templates/base",
        "templates/frontend", "templates/emails", "assets/config.css", "assets/config.js",
        "translations", "Dockerfile", "compose.dev.yml", "pyproject.toml",
        "package.json", "justfile", ".env", ".gitignore", "README.md", "tests",
    ):  # fmt: skip
        assert (app_dir / path).exists(), path
    assert not (app_dir / "compose.prod.yml").exists(), "no fqdn, no production stack"
    # Byte-compiled at install (jinja2.nativetypes: a module nothing here imports).
    assert list(
        (app_dir / ".venv/lib").glob("python3*/site-packages/jinja2/__pycache__/nativetypes.*.pyc")
    )
    assert f"_commit: v{__version__}" in (app_dir / ".copier-answers.yml").read_text()
    env = (app_dir / ".env").read_text()
    secret = re.search(r"^SECRET_KEY=(\S+)$", env, re.M)
    assert secret and len(secret.group(1)) >= 32
    assert "vibetuner" not in {p.name for p in (app_dir / "src").iterdir()}
    pyproject = (app_dir / "pyproject.toml").read_text()
    assert f'"vibetuner=={__version__}"' in pyproject
    assert f'path = "{ROOT / "vibetuner-py"}"' in pyproject, "installs from this checkout"
    package = (app_dir / "package.json").read_text()
    assert f'"@alltuner/vibetuner": "file:{ROOT / "vibetuner-js"}"' in package
    log = run(["git", "log", "--oneline"], app_dir)
    assert "Start from the Vibetuner template" in log
    tracked = run(["git", "ls-files"], app_dir).split()
    assert ".env" not in tracked and not any(p.startswith(".venv/") for p in tracked)


def test_app_passes_its_own_tests_and_lint(app_dir: Path) -> None:
    out = run([str(app_dir / ".venv/bin/pytest"), "-q", "-p", "no:cacheprovider"], app_dir)
    assert re.search(r"\b\d+ passed\b", out) and "failed" not in out
    if everything_required():
        shots = sorted(p.name for p in (app_dir / "tests" / "artifacts").glob("*.png"))
        assert len(shots) >= 4, f"the browser journeys saved no screenshots: {shots}"
    run([str(app_dir / ".venv/bin/ruff"), "check", "src", "tests"], app_dir)
    run([str(app_dir / ".venv/bin/ruff"), "format", "--check", "src", "tests"], app_dir)


def test_every_just_recipe_runs(app_dir: Path) -> None:
    """The README's commands work on a fresh machine: the dev extra installs `just`; each
    recipe's dry run names commands that exist; the cheap ones run; `just prod` and `just
    worker` without their services end with one message naming the settings, exit code 2."""
    just = str(app_dir / ".venv/bin/just")
    assert Path(just).is_file(), "the dev dependencies install just (rust-just)"
    assert "rust-just" in (app_dir / "pyproject.toml").read_text()
    assert ".venv/bin/just" in (app_dir / "README.md").read_text()
    recipes = run([just, "--summary"], app_dir).split()
    assert {"dev", "test", "lint", "format", "prod", "worker", "doctor", "build-prod"} <= set(
        recipes
    )
    scripts = json.loads((app_dir / "package.json").read_text())["scripts"]
    for recipe in recipes:
        dry = subprocess.run([just, "--dry-run", recipe], cwd=app_dir, env=clean_env(),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert dry.returncode == 0, f"{recipe}: {dry.stderr}"
        for line in filter(None, (dry.stderr + dry.stdout).splitlines()):
            words = [w for w in shlex.split(line) if not re.match(r"[A-Z_][A-Z0-9_]*=", w)]
            tool = words[0]
            assert (app_dir / tool).is_file() or shutil.which(tool), f"{recipe}: {line}"
            if words[:2] == ["npm", "run"]:
                assert words[2] in scripts, f"{recipe}: no npm script {words[2]!r}"
    run([just, "lint"], app_dir)
    doctor = subprocess.run([just, "doctor"], cwd=app_dir, env=clean_env(),
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "✓ app" in doctor.stdout and "Traceback" not in doctor.stdout + doctor.stderr
    for recipe, names in (("prod", ("DATABASE_URL", "BASE_URL", "REDIS_URL")),
                          ("worker", ("REDIS_URL",))):  # fmt: skip
        failed = subprocess.run([just, recipe], cwd=app_dir, env=clean_env(),
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert failed.returncode == 2, f"{recipe}: {failed.stderr}"
        error = failed.stderr[failed.stderr.index("Error: ") :]
        assert error.count("Error: ") == 1 and "Traceback" not in failed.stderr, error
        assert all(name in error.partition("Fix: ")[0] for name in names), error


def test_openapi_schema_holds_what_the_app_answers(app_dir: Path, tmp_path: Path) -> None:
    """schemathesis's conformance checks against the example app's /openapi.json: every
    status, content type and body the app gives is the one its schema declares (the live
    feed is left out: its stream never ends)."""
    schemathesis = str(Path(VIBETUNER).parent / "schemathesis")
    with serving_dev(app_dir, str(app_dir / ".venv/bin/vibetuner")) as base:
        command = [schemathesis, "run", f"{base}/openapi.json", "--checks", "all",
                   "--exclude-path", "/posts/live", "--max-examples", "40", "--seed", "7",
                   "--no-color"]  # fmt: skip
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                                timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:]
    assert re.search(r"\b\d+ passed\b", result.stdout)


def test_assets_build_with_framework_classes(app_dir: Path) -> None:
    css = app_dir / "assets/statics/css/bundle.css"
    js = app_dir / "assets/statics/js/bundle.js"
    run(["npm", "run", "build-prod"], app_dir)
    text = css.read_text()
    assert ".footer-center" in text, "a class used only by the framework's skeleton"
    assert ".btn-primary" in text and "\n  " not in text[:2000], "daisyUI, minified"
    assert "htmx" in js.read_text()
    for bundle in (css, js):  # precompressed copies the app sends, ignored by git
        for suffix in (".br", ".gz"):
            copy = bundle.with_name(bundle.name + suffix)
            assert 0 < copy.stat().st_size < bundle.stat().st_size, copy
    copies = ["assets/statics/css/bundle.css.br", "assets/statics/js/bundle.js.gz"]
    assert run(["git", "check-ignore", *copies], app_dir).split() == copies


def test_asset_watcher_rebuilds_and_stops_cleanly(app_dir: Path) -> None:
    css = app_dir / "assets/statics/css/bundle.css"
    page = app_dir / "templates/frontend/watch-probe.html.jinja"
    watcher = subprocess.Popen(
        ["npm", "run", "dev"], cwd=app_dir, env=clean_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Until the watcher is up, a write goes unseen: write again until the class shows.
        deadline = time.monotonic() + 60
        while "0.321em" not in css.read_text():
            assert time.monotonic() < deadline, "the watcher never rebuilt the CSS"
            assert watcher.poll() is None, f"`npm run dev` exited with {watcher.returncode}"
            page.write_text('<p class="tracking-[0.321em]">probe</p>')
            time.sleep(0.5)
    finally:
        page.unlink(missing_ok=True)
        os.killpg(watcher.pid, signal.SIGTERM)
        watcher.wait(15)
    deadline = time.monotonic() + 10
    while _processes_in(app_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_in(app_dir) == []


def _processes_in(folder: Path) -> list[str]:
    """Command lines of live processes whose working directory is `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == folder:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_bun_runs_the_same_scripts(app_dir: Path, tmp_path: Path) -> None:
    bun_home = Path(os.environ.get("VIBETUNER_BUN_DIR", tmp_path / "bun"))
    bun = bun_home / "node_modules/.bin/bun"
    if not bun.exists():
        bun_home.mkdir(parents=True, exist_ok=True)
        run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(bun_home), "bun"],
             bun_home)  # fmt: skip
    css = app_dir / "assets/statics/css/bundle.css"
    css.unlink()
    run([str(bun), "build-prod"], app_dir)
    assert ".btn-primary" in css.read_text()


@dataclass
class Served:
    base: str
    mongo: EmbeddedMongo
    database: str
    smtp: SMTPSink


class Browser:
    """Carries cookies like a browser on localhost does, Secure ones included."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = httpx.request(method, f"{self.base}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]
        for raw in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(raw)
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in raw:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture(scope="module")
def served(app_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with local_redis(tmp_path_factory.mktemp("redis")) as redis_url:  # the app has jobs
        yield from _serve(app_dir, tmp_path_factory, redis_url)


def _serve(
    app_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Served]:
    vibetuner = str(app_dir / ".venv/bin/vibetuner")
    with SMTPSink() as smtp, serving_prod(
        app_dir, vibetuner, tmp_path_factory.mktemp("prod"), REDIS_URL=redis_url,
        SMTP_HOST=smtp.host, SMTP_PORT=str(smtp.port), MAIL_FROM="E2E <no-reply@e2e.test>",
    ) as (base, mongo):  # fmt: skip
        yield Served(base, mongo, DATABASE, smtp)


def test_home_page_links_hashed_bundles(served: Served) -> None:
    page = httpx.get(f"{served.base}/")
    assert page.status_code == 200
    css = re.search(r'href="(/static/[0-9a-f]{12}/css/bundle\.css)"', page.text)
    js = re.search(r'src="(/static/[0-9a-f]{12}/js/bundle\.js)"', page.text)
    assert css and js
    assert "livereload" not in page.text
    bundle = httpx.get(f"{served.base}{css.group(1)}")
    assert bundle.status_code == 200
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert httpx.get(f"{served.base}/static/0/../../.env").status_code == 404
    assert httpx.get(f"{served.base}/static/abc/css/nope.css").status_code == 404


@pytest.fixture(scope="module")
def writer(served: Served) -> Browser:
    """Signed in through the real magic-link flow: HTTP, CSRF, SMTP, the link, a new session."""
    browser = Browser(served.base)
    login = browser.get("/auth/login?next=/posts")
    assert login.status_code == 200
    sent = browser.post(
        "/auth/magic-link",
        data={
            "email": "writer@example.com",
            "next": "/posts",
            "csrf_token": csrf_token_of(login.text),
        },
    )
    assert sent.status_code == 200 and "Check your email" in sent.text
    served.smtp.wait_for(1)
    link = next(u for u in served.smtp.links() if "/auth/magic/" in u)
    before = browser.cookies[PROD_SESSION]
    page = browser.get(link.removeprefix(served.base))  # the confirm page: nothing consumed
    assert page.status_code == 200 and browser.cookies[PROD_SESSION] == before
    opened = browser.post(MAGIC_CONFIRM, data=sign_in_form_of(page.text), follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/posts"
    assert browser.cookies[PROD_SESSION] != before
    cookie = browser.set_cookie_headers[-1]
    for flag in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/"):
        assert flag in cookie
    assert browser.get(link.removeprefix(served.base)).status_code == 400, "links work once"
    return browser


def test_signed_in_pages_carry_security_headers(served: Served, writer: Browser) -> None:
    account = writer.get("/account")
    assert account.status_code == 200 and "writer@example.com" in account.text
    policy = account.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and all(
        f'nonce="{nonce.group(1)}"' in tag for tag in re.findall(r"<script\b[^>]*>", account.text)
    )
    assert account.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{served.base}/account", follow_redirects=False).status_code == 303


def test_create_form_round_trips_to_mongodb(served: Served, writer: Browser) -> None:
    assert httpx.post(f"{served.base}/posts", data={"content": "anon"}).status_code == 303
    token = csrf_token_of(writer.get("/posts").text)
    hx = {**HX, "X-CSRF-Token": token}
    assert writer.post("/posts", data={"content": "no token"}, headers=HX).status_code == 403
    created = writer.post("/posts", data={"content": "Stored for real"}, headers=hx)
    assert created.status_code == 200
    assert "Stored for real" in created.text and "<html" not in created.text
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(served.mongo.url)
    try:
        stored = client[served.database]["posts"].find_one({"content": "Stored for real"})
    finally:
        client.close()
    assert stored is not None
    plain = writer.post(
        "/posts", data={"content": "No JS", "csrf_token": token}, follow_redirects=False
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/posts"


def test_partial_endpoint_returns_fragment_or_page(served: Served, writer: Browser) -> None:
    hx = {**HX, "X-CSRF-Token": csrf_token_of(writer.get("/posts").text)}
    for i in range(11):
        assert writer.post("/posts", data={"content": f"bulk {i}"}, headers=hx).status_code == 200
    fragment = httpx.get(f"{served.base}/posts", headers=HX)
    page = httpx.get(f"{served.base}/posts")
    assert fragment.status_code == 200 and page.status_code == 200
    assert "<html" not in fragment.text and fragment.text.count("data-post") == 10
    assert "hx-swap-oob" in fragment.text and "Load more" in fragment.text
    assert page.text.lstrip().startswith("<!DOCTYPE html>") and 'id="post-list"' in page.text


@pytest.mark.parametrize(
    ("content", "message"), [("", "cannot be empty"), ("x" * 281, "at most 280")]
)
def test_bad_input_is_422_not_500(
    served: Served, writer: Browser, content: str, message: str
) -> None:
    token = csrf_token_of(writer.get("/posts").text)
    partial = writer.post(
        "/posts", data={"content": content}, headers={**HX, "X-CSRF-Token": token}
    )
    assert partial.status_code == 422 and message in partial.text
    assert "<html" not in partial.text
    page = writer.post("/posts", data={"content": content, "csrf_token": token})
    assert page.status_code == 422 and message in page.text and "<html" in page.text
    cursor = httpx.get(f"{served.base}/posts?before=zzz", headers=HX)
    assert cursor.status_code == 422


def test_ready_then_503_once_the_database_stops(served: Served) -> None:
    assert httpx.get(f"{served.base}/health/ready").status_code == 200
    served.mongo.stop()
    down = httpx.get(f"{served.base}/health/ready", timeout=10)
    assert down.status_code == 503 and down.json()["failing"] == ["mongodb"]
    assert httpx.get(f"{served.base}/health/ping").status_code == 200
