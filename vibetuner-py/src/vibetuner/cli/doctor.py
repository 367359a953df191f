"""`vibetuner doctor`: find what would stop this app from running, and say how to fix it."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import typer

from vibetuner.cli._database import add_src_to_path, running_embedded_url
from vibetuner.config import get_settings, reset_settings
from vibetuner.config import redact_url as _redact
from vibetuner.data._mongo import _database_name, check_reachable
from vibetuner.data._redis import check_redis_reachable
from vibetuner.data.migrations import discover, migrations_folder, pending_names
from vibetuner.exceptions import ConfigError, VibetunerError
from vibetuner.i18n._catalogs import check_catalogs
from vibetuner.server._net import host_allowed, parse_networks
from vibetuner.services.email import check_email_config
from vibetuner.services.storage import build_storage
from vibetuner.tasks._registry import app_task_names, load_app_tasks

app = typer.Typer(
    help="""Check the app's setup; exits 1 and lists each problem with its fix.

Warnings (!) are worth fixing but do not fail.

Examples:
  vibetuner doctor
  ENVIRONMENT=prod vibetuner doctor --deploy
""",
    invoke_without_command=True,
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    warning: bool = False
    """Passes, but is worth changing: printed with its fix, and the exit code stays 0."""


def _safely(name: str, settings: Any, *, deploy: bool = False) -> Check:
    """A check that raises is a failed check with the error's own fix, never a traceback."""
    try:
        return (DEPLOY_PROBES if deploy else PROBES)[name](settings)
    except VibetunerError as exc:
        return Check(name, False, exc.message, exc.fix or "")
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}", "Re-run with --debug.")


def _database(settings: Any) -> Check:
    if not settings.database_url:
        if settings.is_prod:
            return Check("database", False, "DATABASE_URL is not set.", "Set DATABASE_URL.")
        if importlib.util.find_spec("secantus") is None:
            return Check(
                "database", False, "No DATABASE_URL and no embedded database.",
                "pip install 'vibetuner[embedded]', or set DATABASE_URL.",
            )  # fmt: skip
        return Check("database", True, "embedded (started by `vibetuner run dev`)")

    check_reachable(settings.database_url, timeout_ms=2000)
    return Check("database", True, _redact(settings.database_url))


def _app_jobs() -> list[str]:
    """The background jobs the app in ./src defines (none when there is no app here)."""
    add_src_to_path()
    try:
        load_app_tasks()
    except ModuleNotFoundError:
        return []
    return app_task_names()


def _redis(settings: Any) -> Check:
    if not settings.redis_url:
        jobs = _app_jobs()
        if jobs:
            detail = (f"not configured: the app's {len(jobs)} background job(s) run inside "
                      "`vibetuner run dev`; production needs REDIS_URL")  # fmt: skip
            return Check("redis", True, detail)
        return Check("redis", True, "not configured (sessions and rate limits use MongoDB)")
    return _redis_reachable(settings)


def _redis_deploy(settings: Any) -> Check:
    """Production runs the app's jobs on `vibetuner run worker`, through Redis."""
    jobs = _app_jobs()
    if not settings.redis_url and jobs:
        return Check(
            "redis", False,
            f"REDIS_URL is not set, but the app defines background jobs ({', '.join(jobs[:3])}"
            f"{', ...' if len(jobs) > 3 else ''}): production runs them on `vibetuner run worker`",
            "Set REDIS_URL=redis://host:6379/0, and run `vibetuner run worker` beside the app.",
        )  # fmt: skip
    return _redis(settings)


def _redis_reachable(settings: Any) -> Check:
    check_redis_reachable(settings.redis_url)
    return Check("redis", True, "reachable")


def _migrations(settings: Any) -> Check:
    """Pending data migrations, when the app has any and its database answers."""
    try:
        folder = migrations_folder()
    except ConfigError:
        return Check("migrations", True, "not checked (no app package here)")
    if not discover(folder):
        return Check("migrations", True, "none in src/app/migrations")
    url = settings.database_url or running_embedded_url(settings.state_dir)
    if url is None:
        return Check("migrations", True, "not checked (the embedded database is not running)")
    pending = pending_names(url, _database_name(url, settings.mongo_database), folder)
    if pending:
        return Check("migrations", False, f"{len(pending)} pending: {', '.join(pending[:3])}",
                     "Run `vibetuner db migrate` (or set MIGRATE_ON_START=true).")  # fmt: skip
    return Check("migrations", True, "all applied")


def _translations(settings: Any) -> Check:
    ok, detail, fix = check_catalogs(settings)
    return Check("translations", ok, detail, fix)


def _email(settings: Any) -> Check:
    return Check("email", True, check_email_config(settings))


def _storage(settings: Any) -> Check:
    """Local: the blobs folder is writable; S3: the bucket answers with these credentials."""
    storage = build_storage(settings)
    try:
        return Check("storage", True, asyncio.run(storage.check()))
    finally:
        asyncio.run(storage.close())


def _app_module() -> Check:
    src = Path.cwd() / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    if importlib.util.find_spec("app") is None:
        return Check("app", False, f"No `app` package under {Path.cwd()}/src.",
                     "Run doctor from the project folder.")  # fmt: skip
    return Check("app", True, "src/app")


def _assets(settings: Any) -> Check:
    missing = [
        p for p in ("css/bundle.css", "js/bundle.js") if not (settings.statics_dir / p).is_file()
    ]
    if missing:
        return Check("assets", False, f"Not built: {', '.join(missing)}",
                     "Run `npm run build` (or `bun run build`).")  # fmt: skip
    return Check("assets", True, "built")


def _node() -> Check:
    tool = shutil.which("bun") or shutil.which("npm")
    if tool is None:
        return Check("frontend tools", False, "Neither bun nor npm is installed.",
                     "Install Node.js 20+ (with npm) or bun.")  # fmt: skip
    return Check("frontend tools", True, Path(tool).name)


def _sender(settings: Any) -> Check:
    domain = settings.mail_from.rpartition("@")[2].strip(" >").lower()
    local = "." not in domain or domain in ("localhost", "localdomain")
    local = local or domain.endswith((".local", ".localhost", ".invalid", ".test"))
    placeholder = domain == "example.com" or domain.endswith(".example.com")
    if local or placeholder:
        return Check(
            "sender", True, f"MAIL_FROM={settings.mail_from}",
            "Set MAIL_FROM=no-reply@your-domain: mail from this address is often rejected.",
            warning=True,
        )  # fmt: skip
    return Check("sender", True, f"MAIL_FROM={settings.mail_from}")


def _serving(settings: Any) -> Check:
    cpus = os.cpu_count() or 1
    workers = settings.server_workers or int(os.environ.get("WEB_CONCURRENCY", 0) or cpus)
    detail = (
        f"{workers} worker{'s' if workers != 1 else ''} on {cpus} CPUs, "
        f"drain {settings.server_drain_seconds:g} s, shutdown {settings.server_shutdown_timeout} s"
    )
    if settings.server_drain_seconds == 0:
        fix = "Keep SERVER_DRAIN_SECONDS above 0 behind a load balancer: restarts drop requests."
        return Check("serving", True, detail, fix, warning=True)
    if workers < cpus:
        fix = f"Set SERVER_WORKERS={cpus} (or leave it 0) unless other processes share this host."
        return Check("serving", True, detail, fix, warning=True)
    return Check("serving", True, detail)


PROBES: dict[str, Callable[[Any], Check]] = {
    "app": lambda _: _app_module(),
    "database": _database,
    "redis": _redis,
    "migrations": _migrations,
    "email": _email,
    "sender": _sender,
    "storage": _storage,
    "translations": _translations,
    "assets": _assets,
    "serving": _serving,
    "frontend tools": lambda _: _node(),
}
DEPLOY_PROBES = {**PROBES, "redis": _redis_deploy}
DEV = ("app", "database", "redis", "migrations", "email", "storage", "translations", "assets",
       "frontend tools")  # fmt: skip
DEPLOY = ("database", "redis", "migrations", "email", "sender", "storage", "translations",
          "serving")  # fmt: skip


def dev_checks(settings: Any) -> list[Check]:
    return [_safely(name, settings) for name in DEV]


def deploy_checks(settings: Any) -> list[Check]:
    """What production needs: strong secret, no debug, HTTPS, safe cookies and hosts, services."""
    checks = [
        Check("environment", settings.is_prod, f"ENVIRONMENT={settings.environment}",
              "Set ENVIRONMENT=prod in the environment: `vibetuner run prod` refuses "
              "ENVIRONMENT=dev (`just prod` and the Dockerfile set it)."),
        Check("secret key", settings.secret_key_problem() is None,
              settings.secret_key_problem() or "strong",
              "SECRET_KEY=$(vibetuner secret generate)"),
        Check("debug", not settings.debug, f"DEBUG={settings.debug}",
              "Set DEBUG=false: `vibetuner run prod` refuses DEBUG=true."),
        _https(settings),
        Check("cookies", settings.is_prod and settings.secure_cookies,
              "Secure, HttpOnly, SameSite=Lax" if settings.secure_cookies else "not Secure",
              "Leave COOKIE_SECURE unset (or true) in production."),
        _allowed_hosts(settings),
        _proxies(settings),
        _metrics_access(settings),
        _database_credentials(settings),
        _backups(settings),
    ]  # fmt: skip
    return checks + [_safely(name, settings, deploy=True) for name in DEPLOY]


def _https(settings: Any) -> Check:
    """BASE_URL is the canonical origin: every link and redirect in prod starts with it."""
    fix = "Set BASE_URL=https://your-domain and keep FORCE_HTTPS=true."
    if not settings.base_url:
        return Check("https", False, "BASE_URL is not set (links and redirects need it).", fix)
    detail = f"BASE_URL={settings.base_url}, FORCE_HTTPS={settings.force_https}"
    if settings.canonical_origin is None:
        return Check("https", False, f"{detail}: not an absolute URL.", fix)
    if not settings.canonical_origin.startswith("https://"):
        return Check("https", False, f"{detail}: BASE_URL is not HTTPS.", fix)
    return Check("https", settings.force_https, detail, fix)


def _allowed_hosts(settings: Any) -> Check:
    """The Host names answered must include BASE_URL's, and not be every name."""
    hosts = settings.hosts() if settings.is_prod else settings.allowed_hosts or ["*"]
    detail = ", ".join(hosts) + ("" if settings.allowed_hosts else " (the default)")
    if "*" in hosts:
        return Check("allowed hosts", False, f"{detail}: any Host is answered",
                     "Leave ALLOWED_HOSTS unset (prod then answers BASE_URL's host only), "
                     "or set ALLOWED_HOSTS='[\"your-domain\"]'.")  # fmt: skip
    host = urlsplit(settings.base_url or "").hostname
    if host is None:
        return Check("allowed hosts", False, detail, "Set BASE_URL=https://your-domain.")
    if not host_allowed(host, hosts):
        problem = f"{detail}: BASE_URL's host {host} is not among them (it would get 400)"
        fix = f"Add {host} to ALLOWED_HOSTS, or leave it unset (it is then {host})."
        return Check("allowed hosts", False, problem, fix)
    return Check("allowed hosts", True, detail)


def _proxies(settings: Any) -> Check:
    """Forwarded client addresses are believed only from TRUSTED_PROXIES: trusting every
    address lets any client pick its own, and then rate limits and stream caps key on
    whatever it claims."""
    everyone = [str(n) for n in parse_networks(settings.trusted_proxies, on_invalid=_ignore)
                if n.prefixlen == 0]  # fmt: skip
    detail = ", ".join(settings.trusted_proxies) or "none (client addresses are the peers')"
    return Check("trusted proxies", not everyone, detail,
                 "List only your proxies' addresses in TRUSTED_PROXIES "
                 "(e.g. '[\"10.0.0.0/8\"]'), never 0.0.0.0/0 or ::/0.")  # fmt: skip


def _metrics_access(settings: Any) -> Check:
    """/metrics in prod answers a bearer token or allowed networks; never everyone."""
    from vibetuner.monitoring import metrics_enabled  # prometheus_client: only doctor --deploy

    fix = ("Allow only your scrapers' networks in METRICS_ALLOW, or set METRICS_TOKEN="
           "$(vibetuner secret generate) (scrapers send it as a bearer token).")  # fmt: skip
    if not metrics_enabled(settings):
        return Check("metrics", True, "off (set METRICS_TOKEN or METRICS_ALLOW to scrape)")
    allow = parse_networks(settings.metrics_allow, on_invalid=_ignore)
    if any(network.prefixlen == 0 for network in allow):
        return Check("metrics", False, "METRICS_ALLOW lets every address scrape /metrics", fix)
    if settings.metrics_token is None and not allow:
        return Check("metrics", True, "on, loopback scrapes only (no METRICS_TOKEN or "
                     "METRICS_ALLOW)")  # fmt: skip
    return Check("metrics", True, "token" if settings.metrics_token else "allowed networks")


def _database_credentials(settings: Any) -> Check:
    """An open MongoDB is read and written by anyone who reaches its port: prod uses a user
    (SCRAM in DATABASE_URL, or an X.509 client certificate), unless only this host reaches it."""
    name = "database credentials"
    if not settings.database_url:
        return Check(name, True, "not checked (no DATABASE_URL)")
    parts = urlsplit(settings.database_url)
    query = {key.lower(): value for key, value in parse_qsl(parts.query)}
    if parts.username:
        return Check(name, True, f"user {unquote(parts.username)}")
    if query.get("authmechanism", "").upper() == "MONGODB-X509":
        return Check(name, True, "X.509 client certificate")
    hosts = [host.rsplit(":", 1)[0].strip("[]") for host in parts.netloc.split(",")]
    if all(host in ("localhost", "127.0.0.1", "::1") for host in hosts):
        return Check(name, True, "none (MongoDB on this host's loopback only)")
    return Check(
        name, True, "DATABASE_URL has no user: anyone who reaches MongoDB reads and writes it",
        "Create a MongoDB user with readWrite on the app's database and put it in "
        "DATABASE_URL=mongodb://USER:PASSWORD@host:27017/app?authSource=admin "
        "(compose.prod.yml does).",
        warning=True,
    )  # fmt: skip


def _backups(settings: Any) -> Check:
    """Scheduled backups run on `vibetuner run worker`, which needs Redis in production, and
    are only as safe as the storage they go to."""
    if not settings.backup_schedule:
        detail = "none scheduled (BACKUP_SCHEDULE is not set; `vibetuner db backup` makes one)"
        return Check("backups", True, detail)
    detail = f"BACKUP_SCHEDULE={settings.backup_schedule}, keeping {settings.backup_keep}"
    if not settings.redis_url:
        return Check("backups", False, f"{detail}, but REDIS_URL is not set: the worker that "
                     "runs them cannot start in production, so none would be made",
                     "Set REDIS_URL=redis://host:6379/0 and run `vibetuner run worker` "
                     "beside the app.")  # fmt: skip
    if settings.storage_backend != "s3":
        return Check("backups", True, f"{detail} in local storage, on the app's own disk: "
                     "a lost machine takes its backups with it",
                     "Set STORAGE_BACKEND=s3 and the S3_* settings, so backups are kept "
                     "elsewhere.", warning=True)  # fmt: skip
    return Check("backups", True, f"{detail} in the S3 bucket {settings.s3_bucket}")


def _ignore(entry: str) -> None:
    """Invalid entries are the settings check's to report, not this one's."""


@app.callback()
def doctor(
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Check production settings and services instead.")
    ] = False,
) -> None:
    """Check the app's setup; exits 1 and lists each problem with its fix.

    Warnings (!) are worth fixing but do not fail.

    Examples:
      vibetuner doctor
      ENVIRONMENT=prod vibetuner doctor --deploy
    """
    from rich.console import Console  # rich: kept off the CLI's startup
    from rich.markup import escape

    reset_settings()
    settings = get_settings()
    checks = deploy_checks(settings) if deploy else dev_checks(settings)
    console = Console(highlight=False, soft_wrap=True)
    for check in checks:
        mark = "[red]✗[/]" if not check.ok else "[yellow]![/]" if check.warning else "[green]✓[/]"
        console.print(f"{mark} [bold]{check.name}[/]: {escape(check.detail)}")
        if (not check.ok or check.warning) and check.fix:
            console.print(f"    [bold]Fix:[/] {escape(check.fix)}")
    problems = sum(not c.ok for c in checks)
    warnings = sum(c.ok and c.warning for c in checks)
    if problems:
        console.print(f"\n[red]{problems} problem{'s' if problems > 1 else ''} found.[/]")
        raise typer.Exit(1)
    also = f", with {warnings} warning{'s' if warnings > 1 else ''}" if warnings else ""
    console.print(f"\n[green]All checks passed{also}.[/]")
