"""`vibetuner run dev|prod`: serve the app with Granian."""

from __future__ import annotations

import errno
import functools
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from vibetuner.cli._database import remember_embedded_url
from vibetuner.cli.db import apply_migrations
from vibetuner.config import Settings, dev_origin, get_settings, reset_settings
from vibetuner.config._read import check_listen_address
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.data._mongo import check_reachable
from vibetuner.data._redis import check_redis_reachable
from vibetuner.exceptions import ConfigError
from vibetuner.server._granian import serve
from vibetuner.server._launch import Handover, front, hand_over, serve_prod
from vibetuner.server._net import bind_error
from vibetuner.server._preload import preload_framework
from vibetuner.server._process import busy_port_error
from vibetuner.server._terminal import terminal_foreground
from vibetuner.tasks._startup import check_startup

app = typer.Typer(
    help="""Serve the app.

Examples:
  vibetuner run dev
  ENVIRONMENT=prod DEBUG=false vibetuner run prod --workers 4
""",
    no_args_is_help=True,
    add_completion=False,  # as the root's: `vibetuner run` is dispatched to it directly
    pretty_exceptions_enable=False,
)

DEFAULT_TARGET = "app.frontend:app"
APP_HELP = "The ASGI app, module:attribute."


def _settings() -> Any:
    reset_settings()
    return get_settings()


def _find_target(target: str) -> bool:
    """True when the ASGI target's module is importable from here (./src included)."""
    module = target.partition(":")[0]
    src = Path.cwd() / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _check_target(target: str) -> None:
    """Fail early, with a fix, when the ASGI target is not importable from here."""
    if not _find_target(target):
        raise ConfigError(
            f"Cannot find the app module {target.partition(':')[0]!r} from {Path.cwd()}.",
            fix="Run this from the project folder (the one with pyproject.toml and src/app), "
            "or pass --app module:attribute.",
        )


def check_address(host: str, port: int, command: str) -> str:
    """The address to listen on (`localhost` is 127.0.0.1); fail before anything starts when
    it cannot be listened on: another server's port (named), an address this machine does not
    have, a port reserved to root."""
    try:
        host = check_listen_address(host)
    except ValueError as exc:
        raise ConfigError(
            f"--host {host} {exc}.",
            fix="Use 127.0.0.1 (this machine only), 0.0.0.0 (every IPv4 address) or :: (every "
            "address).",
        ) from None
    error = bind_error(host, port)
    if error == errno.EADDRINUSE:
        raise busy_port_error(host, port, command)
    if error == errno.EADDRNOTAVAIL:
        raise ConfigError(
            f"This machine has no address {host} to listen on.",
            fix="Use one of its own addresses, 127.0.0.1 or 0.0.0.0.",
        )
    if error == errno.EACCES:
        raise ConfigError(
            f"Port {port} is reserved to root.",
            fix=f"Pick a port above 1023: `vibetuner {command} --port 8000`.",
        )
    return host


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Restart on code changes.")
    ] = True,
    target: Annotated[str, typer.Option("--app", help=APP_HELP)] = DEFAULT_TARGET,
) -> None:
    """Serve with reload. Without DATABASE_URL, starts the embedded database in .vibetuner/db.

    Examples:
      vibetuner run dev
      vibetuner run dev --port 8001 --no-reload
    """
    settings = _settings()
    if settings.is_prod:
        raise ConfigError(
            "ENVIRONMENT=prod, but `run dev` is for development.",
            fix="Use `vibetuner run prod`, or set ENVIRONMENT=dev.",
        )
    _check_target(target)
    host = check_address(host, port, "run dev")
    with terminal_foreground():
        _serve_dev(settings, target, host, port, reload=reload)


def _serve_dev(settings: Settings, target: str, host: str, port: int, *, reload: bool) -> None:
    """The embedded database (without DATABASE_URL) for as long as the server runs."""
    from rich.console import Console  # rich: kept off the CLI's startup

    console = Console(stderr=True, highlight=False)
    embedded: EmbeddedMongo | None = None
    if settings.database_url:
        check_reachable(settings.database_url)
    else:
        embedded = EmbeddedMongo(settings.state_dir / "db", database=settings.mongo_database)
        with console.status("Starting the embedded database…"):
            os.environ["DATABASE_URL"] = embedded.start()
        settings = _settings()  # with that DATABASE_URL: the workers are forked with them
        remember_embedded_url(settings.state_dir, embedded.url)
        console.print(f"[green]Embedded database[/] at {embedded.url} (data in .vibetuner/db)")
    try:
        console.print(f"Serving on [bold]{dev_origin(host, port)}[/]  (Ctrl-C stops)")
        serve(target, host, port, settings=settings, workers=1, reload=reload,
              command="run dev", hangup_stops=True)  # fmt: skip
    finally:
        if embedded is not None:
            remember_embedded_url(settings.state_dir, None)
            with console.status("Stopping the embedded database…"):
                embedded.stop()


def refuse_dev_settings(settings: Settings) -> None:
    """`run prod` always serves production: settings that say development stop it."""
    said = settings.dev_settings()
    if said:
        raise ConfigError(
            f"`vibetuner run prod` serves production, but the settings say development "
            f"({', '.join(said)}; .env is for development).",
            fix="Set ENVIRONMENT=prod and DEBUG=false in the environment, which overrides .env: "
            "`ENVIRONMENT=prod DEBUG=false vibetuner run prod` (what `just prod` runs).",
        )


class _ServiceChecks:
    """`run prod`'s checks of its address, database and Redis, made while SECRET_KEY is scored
    (about a tenth off the cold start) and reported after it: a settings problem comes first,
    as when they ran one by one, though now after an unreachable service's timeout."""

    def __init__(
        self, settings: Settings, host: str, port: int, then: Callable[[], None] | None
    ) -> None:
        self.settings, self.host, self.port, self.after = settings, host, port, then
        self.checked: str | None = None
        self.error: Exception | None = None

    def __call__(self) -> None:
        try:
            self.checked = check_address(self.host, self.port, "run prod")
            if self.settings.database_url:  # else check_startup reports it
                check_reachable(self.settings.database_url)
            if self.settings.redis_url:
                check_redis_reachable(self.settings.redis_url)
        except Exception as exc:  # raised by `result`, once the settings have passed
            self.error = exc
        if self.after is not None:
            self.after()

    def result(self) -> str:
        """The address to listen on, or what the checks found wrong."""
        if self.checked is None and self.error is None:
            self()  # no key was scored (none needed it): checked now
        if self.error is not None:
            raise self.error
        assert self.checked is not None
        return self.checked


@app.command()
def prod(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Worker processes (0: SERVER_WORKERS, WEB_CONCURRENCY, else the CPU count).",
        ),
    ] = 0,
    target: Annotated[str, typer.Option("--app", help=APP_HELP)] = DEFAULT_TARGET,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply pending data migrations first (default: MIGRATE_ON_START).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve production: refuses development settings (ENVIRONMENT=dev, DEBUG=true), and needs
    DATABASE_URL, BASE_URL, a mail provider and a real SECRET_KEY.

    Examples:
      ENVIRONMENT=prod DEBUG=false vibetuner run prod --workers 4 --port 8000
      MIGRATE_ON_START=true ENVIRONMENT=prod vibetuner run prod
    """
    settings = _settings()
    refuse_dev_settings(settings)
    found = _find_target(target)
    # Every setting production lacks, in one message (jobs need the app's tasks to be found).
    # While a child scores SECRET_KEY, the address, the database and Redis are checked, and
    # the workers' imports load, unless the launcher loads them already, while this runs
    # (`server._launch`). What those checks found is reported after the settings' problems.
    preload = functools.partial(preload_framework, redis=bool(settings.redis_url))
    services = _ServiceChecks(settings, host, port, then=None if front() else preload)
    check_startup(settings, jobs=found, meanwhile=services)
    _check_target(target)
    host = services.result()

    if settings.migrate_on_start if migrate is None else migrate:
        apply_migrations()
    count = (
        workers
        or settings.server_workers
        or int(os.environ.get("WEB_CONCURRENCY", 0))
        or (os.cpu_count() or 1)
    )
    from vibetuner.monitoring import metrics_enabled  # starlette: loaded by the workers anyway

    handover = Handover(target, host, port, count, shared_metrics=metrics_enabled(settings))
    if front():
        hand_over(handover)
    else:
        serve_prod(handover)
