"""Settings read once from the environment and the project's `.env`."""

from __future__ import annotations

import functools
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from crontab import CronTab
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from vibetuner._secret_strength import (
    SecretStrength,
    remember_strong,
    secret_strength,
    startup_strength,
)
from vibetuner.config._database import DatabaseSettings
from vibetuner.config._read import RATE_FORM as RATE_FORM
from vibetuner.config._read import (
    check_listen_address,
    check_static_url,
    check_url,
    env_file_lines,
    json_value,
    settings_error,
)
from vibetuner.config._read import rate_limit_parts as rate_limit_parts
from vibetuner.config._read import redact_url as redact_url
from vibetuner.exceptions import ConfigError

PLACEHOLDER_MARKERS = ("changeme", "placeholder", "insecure", "yoursecret", "secretkey",
                       "replaceme", "example", "password", "notsecret")  # fmt: skip
"""Looked for with case, spaces and punctuation ignored: `CHANGE_ME`, `your-secret-key`."""
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128
MIN_SECRET_DISTINCT = 8
MAX_WORD_SHARE = 1 / 3
_GENERATE_HINT = "SECRET_KEY=<the output of `vibetuner secret generate`>"


def ascii_int(text: str, max_digits: int = 18) -> int | None:
    """The number `text` spells in ASCII digits, or None: no sign, space, `_`, Unicode digit
    (superscripts, Arabic-Indic, full-width) or more than `max_digits` digits, all of which
    `int()` would either take or choke on."""
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time equality of a token someone sent and the one expected; as UTF-8 bytes,
    since `hmac.compare_digest` raises on non-ASCII strings (then a 500, not a refusal)."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def secret_problem(
    secret: str, estimate: Callable[[str], SecretStrength] = secret_strength
) -> str | None:
    """Why `secret` is unfit as a production SECRET_KEY, or None when it is strong.

    `estimate` scores it (startup passes `startup_strength`: out of process, once)."""
    if not secret:
        return "SECRET_KEY is not set."
    if len(secret) < MIN_SECRET_LENGTH:
        return (
            f"SECRET_KEY is too short: {len(secret)} characters, where "
            f"{MIN_SECRET_LENGTH}+ random ones are needed."
        )
    folded = "".join(ch for ch in secret.lower() if ch.isalnum())
    if any(marker in folded for marker in PLACEHOLDER_MARKERS):
        return "SECRET_KEY looks like a placeholder."
    if len(set(secret)) < MIN_SECRET_DISTINCT:
        return f"SECRET_KEY uses only {len(set(secret))} different characters."
    strength = estimate(secret)
    if strength.word_share >= MAX_WORD_SHARE:
        return "SECRET_KEY is made of dictionary words."
    if strength.bits < MIN_SECRET_BITS:
        return (
            f"SECRET_KEY is guessable: about {strength.bits:.0f} bits of entropy, where "
            f"{MIN_SECRET_BITS} are needed (repeats, sequences and keyboard runs add little)."
        )
    return None


def _nothing() -> None:
    """Nothing to do while the key is scored."""


LOCAL_HOSTS = frozenset({"127.0.0.1", "0.0.0.0", "::1", "::", "localhost"})
"""Addresses that serve this machine: the dev server is reached at `localhost` on them."""


def dev_origin(host: str, port: int) -> str:
    """Where a development server listening on `host` is opened: `http://localhost:PORT`
    for loopback and any-address binds, as WebAuthn (passkeys) refuses an IP address as
    the site's name (127.0.0.1 works for everything else)."""
    name = "localhost" if host.strip("[]") in LOCAL_HOSTS else host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def _env_file() -> Path:
    return Path(os.environ.get("VIBETUNER_ENV_FILE", ".env"))


class OIDCProvider(BaseModel):
    """A generic OpenID Connect provider, configured as JSON in OIDC_PROVIDERS."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str | None = None
    issuer: str
    client_id: str
    client_secret: SecretStr
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])


class Settings(DatabaseSettings):
    """Every setting the framework reads; names match the environment variables (the
    database's TLS and read preference come from `DatabaseSettings`)."""

    model_config = SettingsConfigDict(
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        enable_decoding=False,  # lists are JSON, decoded by `_json` so every error is reported
    )

    project_name: str = "Vibetuner App"
    environment: Literal["dev", "prod"] = "dev"
    debug: bool = False
    secret_key: SecretStr = SecretStr("")
    database_url: str | None = None
    database_name: str | None = None
    migrate_on_start: bool = False
    """`vibetuner run prod` applies pending data migrations before serving (under a lock)."""
    redis_url: str | None = None
    session_max_age: int = Field(default=14 * 24 * 3600, gt=0)
    session_anonymous_max_age: int = Field(default=24 * 3600, gt=0)
    """Seconds a session nobody is signed in to lasts (it holds a CSRF token, a flash): a
    visitor who only looked at a form costs a day of storage, not SESSION_MAX_AGE's."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    project_root: Path = Field(default_factory=Path.cwd)
    default_language: str = "en"
    supported_languages: list[str] = Field(default_factory=lambda: ["en"])
    language_url_prefix: bool = False
    """Pick the language from a URL prefix first (`/es/...`); links keep the prefix."""
    language_cookie: str = "vt_lang"

    # Public URL and proxies
    base_url: str | None = None
    """The canonical origin: in prod, every absolute URL the app builds starts with it."""
    trusted_proxies: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host headers the app answers (400 otherwise); unset: BASE_URL's host in prod, any in dev."""
    force_https: bool = True
    """In prod, redirect plain-HTTP requests to BASE_URL over HTTPS (probes excepted)."""
    cookie_secure: bool | None = None
    """Mark cookies Secure; by default only in prod."""
    static_url: str | None = None
    """A CDN origin for the assets (https://cdn.example.com, optionally with a path): every
    asset URL starts with it, versioned as without it, and the CSP allows it. The CDN pulls
    from this app's `/static/...`. Unset: pages link assets on the app itself."""

    # Sessions and sign-in
    session_cookie: str = "vt_session"
    session_backend: Literal["auto", "redis", "mongo", "memory"] = "auto"
    magic_link_max_age: int = Field(default=15 * 60, gt=0)
    rate_limit_login_ip: str = "5/minute"
    """Sign-in link requests per client network (an IPv4 address, or an IPv6 /64)."""
    rate_limit_login_email: str = "3/15minutes"
    """Sign-in link requests per address from one client network: strangers elsewhere
    cannot use up the owner's requests."""
    rate_limit_login_mails: str = "10/hour"
    """Sign-in mails per address to browsers that never signed in as it; past it the page
    answers as usual and sends nothing. Browsers that signed in as it are not capped."""
    passkey_challenge_max_age: int = Field(default=300, gt=0, le=3600)
    """Seconds a passkey ceremony's challenge stays usable; each works once."""
    rate_limit_passkey: str = "10/minute"
    """Passkey sign-in attempts per client network (an IPv4 address, or an IPv6 /64)."""
    rate_limit_passkey_options: str = "60/minute"
    """Passkey sign-in challenges per client network: one per sign-in page shown."""

    # Email
    email_provider: Literal["auto", "console", "outbox", "smtp", "resend", "mailjet"] = "auto"
    mail_from: str = "no-reply@localhost"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    resend_api_key: SecretStr | None = None
    resend_api_url: str = "https://api.resend.com"
    mailjet_api_key: str | None = None
    mailjet_api_secret: SecretStr | None = None
    mailjet_api_url: str = "https://api.mailjet.com"

    # Background jobs (streaq on Redis; in-process without REDIS_URL in dev)
    job_queue: str = "vibetuner"
    worker_concurrency: int = Field(default=10, ge=1)
    job_idle_timeout: float = Field(default=60.0, gt=0)
    """Seconds before jobs of a worker that stopped answering go to another worker."""
    worker_grace_period: int = Field(default=30, ge=0)
    """Seconds a worker lets running jobs finish after SIGTERM before handing them back."""

    # Serving with Granian (`vibetuner run`)
    server_workers: int = Field(default=0, ge=0)
    """Worker processes for `run prod`; 0: WEB_CONCURRENCY, else the CPU count."""
    server_threads: int = Field(default=1, ge=1)
    """Granian runtime (I/O) threads per worker."""
    server_blocking_threads: int | None = Field(default=None, ge=1)
    server_backpressure: int = Field(default=256, ge=1)
    """Requests one worker handles at once; more wait in the listen backlog."""
    server_backlog: int = Field(default=1024, ge=128)
    server_header_timeout: float = Field(default=5.0, gt=0, le=60)
    """Seconds a client has to send its request headers: slow clients cannot pile up."""
    server_header_max_bytes: int = Field(default=64 * 1024, ge=8192)
    """Largest request head (request line and headers) a connection may buffer."""
    server_keep_alive: bool = True
    server_drain_seconds: float = Field(default=2.0, ge=0, le=60)
    """After SIGTERM, seconds /health/ready answers 503 (/health/ping stays 200) while requests
    are still served, so the load balancer stops routing here before the listener closes."""
    server_shutdown_timeout: int = Field(default=30, ge=1, le=1800)
    """Seconds workers get to finish in-flight requests before they are killed (2 s before,
    connections still open, such as a download nobody reads, are reset instead)."""

    # Cache and live updates
    cache_default_ttl: int = Field(default=300, ge=1)
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    sse_replay_buffer: int = Field(default=100, ge=0)
    sse_send_timeout: float = Field(default=30.0, gt=0)
    """Seconds one event may take to reach a client before its stream is dropped and its
    connection reset (what was not sent would otherwise hold the connection and a stop)."""
    sse_max_per_client: int = Field(default=10, ge=1)
    """Live streams one client may hold at once: its session when signed in, else its
    network (/64 for IPv6, /32 for IPv4). Counted across instances with REDIS_URL."""
    sse_max_per_worker: int | None = Field(default=None, ge=1)
    """Live streams one worker serves at once; unset: half of SERVER_BACKPRESSURE, so
    pages always have room. Must stay below SERVER_BACKPRESSURE."""
    sse_max_anonymous: int = Field(default=100, ge=0)
    """Live streams open to visitors who are not signed in, all clients together (across
    instances with REDIS_URL); 0 keeps live streams for signed-in users."""

    # Request bodies
    request_body_idle_timeout: float = Field(default=15.0, gt=0)
    """Seconds a request body may pause between chunks before the request gets a 408."""
    request_body_timeout: float = Field(default=120.0, gt=0)
    """Seconds a whole request body may take to arrive before the request gets a 408."""
    request_bodies_per_client: int = Field(default=16, ge=1)
    """Bodies one client network (/64, /32) may be sending to a worker at once; past it, 429."""
    request_max_body_bytes: int | None = Field(default=None, ge=0)
    """Largest request body (413 past it); unset: UPLOAD_MAX_BYTES plus 1 MiB. A route
    can set a smaller one with FastAPI's `max_body_size=`."""

    # Monitoring
    metrics_enabled: bool | None = None
    """/metrics: on in dev; in prod off until METRICS_TOKEN or METRICS_ALLOW is set."""
    metrics_token: SecretStr | None = None
    metrics_allow: list[str] = Field(default_factory=list)
    """Networks allowed to scrape /metrics without a token, e.g. ["10.0.0.0/8"]."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve /metrics on this port of its own (for Kubernetes: not in the Service or Ingress)
    instead of the app's port, where it then answers 404; same access rules."""
    metrics_sample_interval: float = Field(default=5.0, gt=0, le=300)
    """Seconds between each Granian worker's samples of its process, pool and in-flight
    gauges, when several workers share one /metrics (the scraped worker reads its own fresh)."""
    db_slow_query_ms: float = Field(default=100.0, ge=0)
    """MongoDB commands slower than this are counted and logged (one line each); 0: off."""
    db_stats_interval: float = Field(default=60.0, gt=0)
    """Seconds between dbStats samples (database size and storage gauges); never per scrape."""
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """The job worker serves its own /metrics on this port (unset: none), protected like
    the web /metrics (METRICS_TOKEN, METRICS_ALLOW)."""
    worker_metrics_host: str | None = None
    """Where the worker's /metrics listens; unset: 0.0.0.0 in prod, 127.0.0.1 in dev."""
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    # OAuth providers: Google, GitHub, and any OIDC issuer
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    github_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    oidc_providers: list[OIDCProvider] = Field(default_factory=list)

    # Blob storage and uploads
    storage_backend: Literal["local", "s3"] = "local"
    """local: files under .vibetuner/blobs (dev); s3: any S3-compatible bucket."""
    storage_url_expiry: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    """Seconds a signed or presigned blob URL stays valid."""
    s3_endpoint_url: str | None = None
    """Unset for AWS; e.g. https://<account>.r2.cloudflarestorage.com, http://minio:9000."""
    s3_region: str | None = None
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    """auto: path-style with S3_ENDPOINT_URL (MinIO, SeaweedFS), virtual-hosted on AWS."""
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    upload_allowed_types: list[str] = Field(
        default_factory=lambda: ["image/png", "image/jpeg", "image/gif", "image/webp",
                                 "application/pdf"]
    )  # fmt: skip

    # Backups (`vibetuner db backup`, and the scheduled job on `vibetuner run worker`)
    backup_schedule: str | None = None
    """A cron expression (5 fields, or 7 with seconds first and a year last) for the built-in
    job that stores a backup in blob storage; unset: no scheduled backups."""
    backup_keep: int = Field(default=7, ge=1)
    """Archives kept in storage; older ones are deleted after each new one is stored."""
    backup_timeout: float = Field(default=4 * 3600.0, gt=0)
    """Seconds the scheduled backup may run before the worker stops it (recorded as failed)."""

    @field_validator("database_url", "redis_url", "base_url", "s3_endpoint_url", "static_url",
                     "metrics_port", "backup_schedule", "worker_metrics_port",
                     "worker_metrics_host", mode="before")  # fmt: skip
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("supported_languages", "trusted_proxies", "allowed_hosts", "metrics_allow",
                     "upload_allowed_types", "oidc_providers", mode="before")  # fmt: skip
    @classmethod
    def _json(cls, value: object, info: ValidationInfo) -> object:
        return json_value(value, info.field_name)

    @field_validator("base_url", "s3_endpoint_url", "resend_api_url", "mailjet_api_url",
                     "github_url", "github_api_url", "google_discovery_url")  # fmt: skip
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "http")

    @field_validator("worker_metrics_host")
    @classmethod
    def _listen_address(cls, value: str | None) -> str | None:
        return None if value is None else check_listen_address(value)

    @field_validator("static_url")
    @classmethod
    def _static_url(cls, value: str | None) -> str | None:
        return None if value is None else check_static_url(value)

    @field_validator("database_url")
    @classmethod
    def _mongodb_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "mongodb")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "redis")

    @field_validator("backup_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            CronTab(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a cron expression ({exc}): use e.g. '0 3 * * *' for 03:00"
            ) from None
        return value.strip()

    @field_validator("rate_limit_login_ip", "rate_limit_login_email", "rate_limit_login_mails",
                     "rate_limit_passkey", "rate_limit_passkey_options")  # fmt: skip
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        rate_limit_parts(value)
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if "*" in host[1:] or (host.startswith("*") and host != "*" and host[:2] != "*."):
                raise ValueError(
                    f"{host!r} is not a host pattern: use example.com, *.example.com or *"
                )
        return hosts

    @field_validator("environment", mode="before")
    @classmethod
    def _normalise_environment(cls, value: object) -> object:
        aliases = {"development": "dev", "production": "prod"}
        if isinstance(value, str):
            return aliases.get(value.strip().lower(), value.strip().lower())
        return value

    @model_validator(mode="after")
    def _streams_leave_room_for_pages(self) -> Settings:
        if self.sse_max_per_worker is not None and (
            self.sse_max_per_worker >= self.server_backpressure
        ):
            raise ValueError(
                f"SSE_MAX_PER_WORKER ({self.sse_max_per_worker}) must be below "
                f"SERVER_BACKPRESSURE ({self.server_backpressure}), so pages keep room."
            )
        return self

    @property
    def sse_worker_cap(self) -> int:
        """Live streams one worker serves at once (SSE_MAX_PER_WORKER, or its default)."""
        if self.sse_max_per_worker is not None:
            return self.sse_max_per_worker
        return max(1, self.server_backpressure // 2)

    @property
    def max_body_bytes(self) -> int:
        """Largest request body (REQUEST_MAX_BODY_BYTES, or its default)."""
        if self.request_max_body_bytes is not None:
            return self.request_max_body_bytes
        return self.upload_max_bytes + 1024 * 1024

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def live_reload(self) -> bool:
        """Reload open pages on change: a development aid, never served in prod."""
        return self.debug and not self.is_prod

    @property
    def secure_cookies(self) -> bool:
        return self.is_prod if self.cookie_secure is None else self.cookie_secure

    @property
    def session_cookie_name(self) -> str:
        """With Secure cookies the name carries `__Host-`: browsers then refuse the cookie
        unless it came over HTTPS from this very host, for the whole site (no Domain)."""
        if self.secure_cookies and not self.session_cookie.startswith("__Host-"):
            return "__Host-" + self.session_cookie
        return self.session_cookie

    @property
    def canonical_origin(self) -> str | None:
        """BASE_URL's scheme and host (`https://example.com`), or None when it is unset."""
        parts = urlsplit(self.base_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @property
    def static_origin(self) -> str | None:
        """STATIC_URL's scheme and host, for the CSP; None when assets come from the app."""
        if not self.static_url:
            return None
        parts = urlsplit(self.static_url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

    def hosts(self) -> list[str]:
        """The Host names answered: ALLOWED_HOSTS, else BASE_URL's host in prod, else any."""
        if self.allowed_hosts:
            return self.allowed_hosts
        host = urlsplit(self.base_url or "").hostname
        return [host] if self.is_prod and host else ["*"]

    def dev_settings(self) -> list[str]:
        """The settings that say development, which `vibetuner run prod` refuses."""
        said = [] if self.is_prod else [f"ENVIRONMENT={self.environment}"]
        return said + (["DEBUG=true"] if self.debug else [])

    @property
    def public_url(self) -> str:
        """The URL people reach the app at, for links in emails and OAuth callbacks."""
        return (self.base_url or dev_origin(self.host, self.port)).rstrip("/")

    @property
    def templates_dir(self) -> Path:
        return self.project_root / "templates"

    @property
    def translations_dir(self) -> Path:
        return self.project_root / "translations"

    @property
    def statics_dir(self) -> Path:
        return self.project_root / "assets" / "statics"

    @property
    def state_dir(self) -> Path:
        """Local state of the embedded services (database files, outbox, blobs)."""
        return self.project_root / ".vibetuner"

    @property
    def mongo_database(self) -> str:
        if self.database_name:
            return self.database_name
        if self.database_url:
            path = urlsplit(self.database_url).path.strip("/")
            if path:
                return path
        return "app"

    def secret_key_problem(self, meanwhile: Callable[[], None] | None = None) -> str | None:
        """Why SECRET_KEY is unfit for production, or None when it is strong; `meanwhile`
        runs while a child process scores the key."""
        score = functools.partial(startup_strength, meanwhile=meanwhile or _nothing)
        return secret_problem(self.secret_key.get_secret_value(), score)

    def missing_s3_settings(self) -> list[str]:
        """The S3 settings (as environment variable names) STORAGE_BACKEND=s3 still needs."""
        values = {"S3_BUCKET": self.s3_bucket, "S3_ACCESS_KEY_ID": self.s3_access_key_id,
                  "S3_SECRET_ACCESS_KEY": self.s3_secret_access_key}  # fmt: skip
        return [name for name, value in values.items() if not _revealed(value)]

    def production_problems(
        self, meanwhile: Callable[[], None] | None = None
    ) -> list[tuple[str, str]]:
        """What stops this app from serving production: (what is wrong, the setting that
        fixes it); empty outside prod. `meanwhile` runs while the key is scored."""
        if not self.is_prod:
            return []
        problems: list[tuple[str, str]] = []
        secret_problem = self.secret_key_problem(meanwhile)
        if secret_problem:
            problems.append((secret_problem, _GENERATE_HINT))
        else:
            remember_strong(self.secret_key.get_secret_value())  # its workers skip the check
        if not self.database_url:
            problems.append(
                ("DATABASE_URL is not set (prod never starts the embedded database).",
                 "DATABASE_URL=mongodb://host:27017/app")
            )  # fmt: skip
        if self.debug:
            problems.append(("DEBUG=true is for development.", "DEBUG=false"))
        if not self.base_url:
            problems.append(
                ("BASE_URL is not set (sign-in emails need the public URL).",
                 "BASE_URL=https://your-domain")
            )  # fmt: skip
        if (
            self.static_url
            and self.static_url.lower().startswith("http:")
            and ((self.base_url or "").lower().startswith("https:"))
        ):
            problems.append(
                ("STATIC_URL is http:// under an https:// BASE_URL: browsers block the assets "
                 "as mixed content.", "STATIC_URL=https://your-cdn")
            )  # fmt: skip
        if self.storage_backend == "s3":
            missing = self.missing_s3_settings()
            if missing:
                problems.append(
                    (f"STORAGE_BACKEND=s3 but {', '.join(missing)} "
                     f"{'is' if len(missing) == 1 else 'are'} not set.",
                     ", ".join(f"{name}=..." for name in missing))
                )  # fmt: skip
        return problems

    def check_production(self, meanwhile: Callable[[], None] | None = None) -> None:
        """Refuse to start in prod with a placeholder secret or a missing database."""
        problems = self.production_problems(meanwhile)
        if problems:
            raise ConfigError.from_problems(problems)


@functools.cache
def get_settings() -> Settings:
    """Read settings once per process; `reset_settings()` forgets them (tests, CLI)."""
    env_file = _env_file()
    path = env_file if env_file.is_file() else None
    lines = env_file_lines(path)
    try:
        settings = Settings(_env_file=path)  # type: ignore[call-arg]
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise settings_error(errors, path, lines) from exc
    if not settings.secret_key.get_secret_value() and not settings.is_prod:
        settings.secret_key = SecretStr("dev-only-insecure-secret-" + "x" * 16)
    return settings


def reset_settings() -> None:
    get_settings.cache_clear()


def _revealed(value: object) -> object:
    return value.get_secret_value() if isinstance(value, SecretStr) else value
