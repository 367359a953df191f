from pathlib import Path

import pytest

from vibetuner.config import Settings, get_settings, reset_settings
from vibetuner.exceptions import ConfigError

GOOD_SECRET = "k" * 16 + "Zq9-xW2_pL7mN4vB8cR1tY6u"


def test_settings_read_from_environment(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("DATABASE_URL", "mongodb://db.example:27017/shop")
    settings_env.setenv("DEBUG", "true")
    settings_env.setenv("SESSION_MAX_AGE", "3600")
    settings = get_settings()
    assert settings.database_url == "mongodb://db.example:27017/shop"
    assert settings.mongo_database == "shop"
    assert settings.debug is True
    assert settings.session_max_age == 3600


def test_settings_read_from_dotenv(settings_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("REDIS_URL=redis://cache:6379/1\nPROJECT_NAME='Shop'\nENVIRONMENT=dev\n")
    settings_env.setenv("VIBETUNER_ENV_FILE", str(env_file))
    reset_settings()
    settings = get_settings()
    assert settings.redis_url == "redis://cache:6379/1"
    assert settings.project_name == "Shop"


def test_environment_wins_over_dotenv(settings_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PROJECT_NAME=FromFile\n")
    settings_env.setenv("VIBETUNER_ENV_FILE", str(env_file))
    settings_env.setenv("PROJECT_NAME", "FromEnv")
    assert get_settings().project_name == "FromEnv"


def test_settings_are_read_once(settings_env: pytest.MonkeyPatch) -> None:
    first = get_settings()
    settings_env.setenv("PROJECT_NAME", "Changed")
    assert get_settings() is first
    reset_settings()
    assert get_settings().project_name == "Changed"


def test_blank_urls_are_unset(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("DATABASE_URL", "  ")
    settings_env.setenv("REDIS_URL", "")
    settings = get_settings()
    assert settings.database_url is None and settings.redis_url is None


def test_environment_aliases() -> None:
    assert Settings(environment="production").is_prod  # type: ignore[arg-type]
    assert not Settings(environment="Development").is_prod  # type: ignore[arg-type]


def test_invalid_environment_is_rejected() -> None:
    with pytest.raises(ValueError, match="environment"):
        Settings(environment="staging")  # type: ignore[arg-type]


def test_dev_gets_a_secret_without_configuration(settings_env: pytest.MonkeyPatch) -> None:
    assert get_settings().secret_key.get_secret_value()


@pytest.mark.parametrize(
    ("secret", "database_url", "named"),
    [
        ("", "mongodb://db:27017/app", "SECRET_KEY is not set"),
        ("change-me-please-change-me-please-123", "mongodb://db:27017/app", "placeholder"),
        ("short", "mongodb://db:27017/app", "too short"),
        (GOOD_SECRET, None, "DATABASE_URL is not set"),
    ],
)
def test_production_refuses_unsafe_settings(
    secret: str, database_url: str | None, named: str
) -> None:
    settings = Settings(
        environment="prod",
        secret_key=secret,  # type: ignore[arg-type]
        database_url=database_url,
        base_url="https://app.example.com",
    )
    with pytest.raises(ConfigError) as info:
        settings.check_production()
    assert named in info.value.message
    assert info.value.fix and info.value.fix.startswith("Set ")


def test_production_accepts_real_settings() -> None:
    settings = Settings(
        environment="prod",
        secret_key=GOOD_SECRET,  # type: ignore[arg-type]
        database_url="mongodb://db:27017/app",
        base_url="https://app.example.com",
    )
    settings.check_production()


def test_production_needs_base_url() -> None:
    settings = Settings(
        environment="prod",
        secret_key=GOOD_SECRET,  # type: ignore[arg-type]
        database_url="mongodb://db:27017/app",
    )
    with pytest.raises(ConfigError, match="BASE_URL is not set"):
        settings.check_production()


def test_database_name_defaults() -> None:
    assert Settings(database_url="mongodb://h:1/").mongo_database == "app"
    assert Settings(database_url="mongodb://h:1/x", database_name="y").mongo_database == "y"


def test_live_reload_is_for_development_only() -> None:
    assert Settings(debug=True).live_reload
    assert not Settings(debug=False).live_reload
    assert not Settings(debug=True, environment="prod").live_reload  # type: ignore[arg-type]
