"""`vibetuner doctor --deploy` fails on a dev config and passes on a correct prod one."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import RedisServer
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.server._net import free_port

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")
PROD = {
    "ENVIRONMENT": "prod",
    "DEBUG": "false",
    "SECRET_KEY": "q8Vn2Lr5Xw9Zt1Kb7Hd3Jm6Pc4Sf0Gy-Ua_Eo",
    "BASE_URL": "https://app.example.com",
    "ALLOWED_HOSTS": '["app.example.com"]',
    "SMTP_HOST": "smtp.example.com",
}


def doctor(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "VIBETUNER_ENV_FILE": str(cwd / "none")}
    return subprocess.run(
        [VIBETUNER, "doctor", *args], cwd=cwd, capture_output=True, text=True, env={**base, **env}
    )


def test_deploy_fails_on_a_dev_config(tmp_path: Path) -> None:
    result = doctor("--deploy", cwd=tmp_path, env={"DEBUG": "true", "SECRET_KEY": "changeme"})
    assert result.returncode == 1
    for problem in ("environment", "secret key", "debug", "https", "cookies", "allowed hosts"):
        assert f"✗ {problem}" in result.stdout, problem
    assert result.stdout.count("Fix:") >= 6 and "Traceback" not in result.stderr


def test_deploy_passes_on_a_correct_prod_config(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> None:
    env = {**PROD, "DATABASE_URL": vibetuner_mongo.url, "REDIS_URL": redis_server.url}
    result = doctor("--deploy", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout
    assert "All checks passed" in result.stdout and "✗" not in result.stdout
    assert "! sender: MAIL_FROM=no-reply@localhost" in result.stdout, "the default is a warning"
    assert "Set MAIL_FROM=no-reply@your-domain" in result.stdout
    cpus = str(os.cpu_count() or 1)
    tuned = {**env, "MAIL_FROM": "App <no-reply@app.example.org>", "SERVER_WORKERS": cpus}
    clean = doctor("--deploy", cwd=tmp_path, env=tuned)
    assert clean.returncode == 0 and "All checks passed." in clean.stdout, clean.stdout
    assert "! " not in clean.stdout and f"{cpus} worker" in clean.stdout
    no_drain = doctor("--deploy", cwd=tmp_path, env={**tuned, "SERVER_DRAIN_SECONDS": "0"})
    assert no_drain.returncode == 0 and "! serving" in no_drain.stdout
    assert "All checks passed, with 1 warning." in no_drain.stdout


def test_deploy_reports_unreachable_services(tmp_path: Path) -> None:
    dead = free_port()
    env = {
        **PROD,
        "DATABASE_URL": f"mongodb://127.0.0.1:{dead}/app",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    env.pop("SMTP_HOST")
    result = doctor("--deploy", cwd=tmp_path, env=env)
    assert result.returncode == 1
    for problem in ("database", "redis", "email"):
        assert f"✗ {problem}" in result.stdout, problem
    assert "Traceback" not in result.stdout + result.stderr


def test_dev_doctor_points_at_missing_pieces(tmp_path: Path) -> None:
    result = doctor(cwd=tmp_path, env={})
    assert result.returncode == 1
    assert "✗ app" in result.stdout and "✗ assets" in result.stdout
    assert "npm run build" in result.stdout


def test_deploy_needs_redis_for_an_app_with_jobs(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo
) -> None:
    """Without REDIS_URL, jobs run inside `run dev`; production refuses them: so must doctor."""
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    (tmp_path / "src" / "app" / "tasks.py").write_text(
        "from vibetuner import task\n\n\n@task\nasync def nightly() -> None: ...\n"
    )
    env = {**PROD, "DATABASE_URL": vibetuner_mongo.url}
    result = doctor("--deploy", cwd=tmp_path, env=env)
    assert result.returncode == 1, result.stdout
    assert "✗ redis: REDIS_URL is not set, but the app defines background jobs" in result.stdout
    assert "app.tasks.nightly" in result.stdout and "✓ redis" not in result.stdout
    dev = doctor(cwd=tmp_path, env={"DATABASE_URL": vibetuner_mongo.url})
    assert "✓ redis: not configured: the app's 1 background job(s) run inside" in dev.stdout


def test_email_check_names_every_problem_at_once(tmp_path: Path) -> None:
    env = {**PROD, "EMAIL_PROVIDER": "mailjet", "MAILJET_API_KEY": "k", "MAIL_FROM": "nobody"}
    result = doctor("--deploy", cwd=tmp_path, env=env)
    email = result.stdout[result.stdout.index("✗ email") :].partition("    Fix:")[0]
    assert email.startswith("✗ email: 2 problems:\n  - EMAIL_PROVIDER is 'mailjet'"), email
    assert "(MAILJET_API_SECRET not set)" in email, "only what is missing"
    assert "  - MAIL_FROM is not an email address." in email


def test_deploy_checks_where_scheduled_backups_would_run_and_go(
    tmp_path: Path, vibetuner_mongo: EmbeddedMongo, redis_server: RedisServer
) -> None:
    """A schedule without Redis never runs in production (fail); one into local storage dies
    with the machine (warning); none scheduled is a choice (passes)."""
    env = {**PROD, "DATABASE_URL": vibetuner_mongo.url}
    none = doctor("--deploy", cwd=tmp_path, env=env)
    assert "✓ backups: none scheduled" in none.stdout, none.stdout
    scheduled = {**env, "BACKUP_SCHEDULE": "0 3 * * *", "BACKUP_KEEP": "14"}
    no_redis = doctor("--deploy", cwd=tmp_path, env=scheduled)
    assert no_redis.returncode == 1, no_redis.stdout
    assert "✗ backups: BACKUP_SCHEDULE=0 3 * * *, keeping 14, but REDIS_URL" in no_redis.stdout
    local = doctor("--deploy", cwd=tmp_path, env={**scheduled, "REDIS_URL": redis_server.url})
    assert local.returncode == 0, local.stdout
    assert "! backups: BACKUP_SCHEDULE=0 3 * * *, keeping 14 in local storage" in local.stdout
    assert "Set STORAGE_BACKEND=s3" in local.stdout
