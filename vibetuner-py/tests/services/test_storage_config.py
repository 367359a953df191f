"""Choosing and validating the storage backend from settings; aioboto3 loads only when used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vibetuner.config import Settings, get_settings
from vibetuner.exceptions import ConfigError
from vibetuner.services.storage import (
    LocalStorage,
    S3Storage,
    build_storage,
    check_storage_config,
)

S3_ENV = {"STORAGE_BACKEND": "s3", "S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "id",
          "S3_SECRET_ACCESS_KEY": "secret"}  # fmt: skip


def test_defaults_are_local_with_a_10_mb_limit(settings_env: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    assert settings.storage_backend == "local"
    assert settings.upload_max_bytes == 10 * 1024 * 1024
    assert "image/png" in settings.upload_allowed_types
    assert "image/svg+xml" not in settings.upload_allowed_types
    storage = build_storage(settings)
    assert isinstance(storage, LocalStorage)
    assert storage.root == settings.project_root / ".vibetuner" / "blobs"
    assert check_storage_config(settings).startswith("local (")


async def test_local_urls_are_relative_for_browsers(settings_env: pytest.MonkeyPatch) -> None:
    url = await build_storage(get_settings()).url("avatars/abc.png", expires_in=60)
    assert url.startswith("/blobs/avatars/abc.png?exp=")


def test_s3_settings_build_an_s3_backend(settings_env: pytest.MonkeyPatch) -> None:
    for name, value in {**S3_ENV, "S3_ENDPOINT_URL": "http://minio:9000"}.items():
        settings_env.setenv(name, value)
    storage = build_storage(get_settings())
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.endpoint_url) == ("media", "http://minio:9000")
    assert check_storage_config(get_settings()) == "s3 (bucket media at http://minio:9000)"


def test_incomplete_s3_settings_say_what_is_missing(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("STORAGE_BACKEND", "s3")
    settings_env.setenv("S3_BUCKET", "media")
    assert get_settings().missing_s3_settings() == ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]
    with pytest.raises(ConfigError) as caught:
        build_storage(get_settings())
    assert "S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY are not set" in caught.value.message
    assert caught.value.fix is not None and "S3_SECRET_ACCESS_KEY=..." in caught.value.fix


def test_production_refuses_to_start_with_incomplete_s3(settings_env: pytest.MonkeyPatch) -> None:
    settings = Settings(
        environment="prod", secret_key="q8Vn2Lr5Xw9Zt1Kb7Hd3Jm6Pc4Sf0Gy-Ua_Eo",
        database_url="mongodb://db/app", base_url="https://app.example.com",
        storage_backend="s3", s3_bucket="media",
    )  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        settings.check_production()
    assert "STORAGE_BACKEND=s3" in caught.value.message
    assert "S3_ACCESS_KEY_ID" in caught.value.message
    complete = settings.model_copy(
        update={"s3_access_key_id": "id", "s3_secret_access_key": "secret"}
    )
    complete.check_production()


def test_create_app_fails_at_startup_on_incomplete_s3(settings_env: pytest.MonkeyPatch) -> None:
    from vibetuner import create_app

    settings_env.setenv("STORAGE_BACKEND", "s3")
    with pytest.raises(ConfigError, match="S3_BUCKET"):
        create_app()


def test_storage_and_uploads_do_not_load_aioboto3(tmp_path: Path) -> None:
    code = (
        "from vibetuner.services.storage import get_storage, S3Storage\n"
        "from vibetuner.frontend._uploads import save_upload\n"
        "S3Storage('media')\n"
        "import sys, json; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout  # fmt: skip
    loaded = {name.split(".")[0] for name in json.loads(out.strip().splitlines()[-1])}
    assert not loaded & {"aioboto3", "aiobotocore", "botocore", "boto3"}
