"""Pick the storage backend from settings: local files in dev, an S3 bucket when configured."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from vibetuner.config import Settings, get_settings
from vibetuner.exceptions import ConfigError
from vibetuner.services._chosen import Chosen
from vibetuner.services.storage._base import Storage
from vibetuner.services.storage._local import LocalStorage
from vibetuner.services.storage._s3 import S3Storage

if TYPE_CHECKING:
    from vibetuner.data.models.blob import Blob

BLOBS_URL = "/blobs"


def blobs_dir(settings: Settings) -> Path:
    """Where the local backend keeps files (under the project's state folder)."""
    return settings.state_dir / "blobs"


def check_storage_config(settings: Settings) -> str:
    """Validate storage settings without touching the network; a one-line summary."""
    if settings.storage_backend == "local":
        return f"local ({blobs_dir(settings)})"
    missing = settings.missing_s3_settings()
    if missing:
        raise ConfigError(
            f"STORAGE_BACKEND=s3 but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            "not set.",
            fix="Set "
            + ", ".join(f"{name}=..." for name in missing)
            + " (and S3_ENDPOINT_URL for R2, MinIO or SeaweedFS).",
        )
    if importlib.util.find_spec("aioboto3") is None:
        raise ConfigError(
            "STORAGE_BACKEND=s3 needs aioboto3, which is not installed.",
            fix="pip install 'vibetuner[s3]'",
        )
    return f"s3 (bucket {settings.s3_bucket} at {settings.s3_endpoint_url or 'AWS S3'})"


def build_storage(settings: Settings) -> Storage:
    """A backend instance for the settings; ConfigError when they are incomplete."""
    check_storage_config(settings)
    if settings.storage_backend == "local":
        secret = settings.secret_key.get_secret_value()
        return LocalStorage(blobs_dir(settings), secret=secret, base_url=BLOBS_URL)

    assert settings.s3_bucket is not None and settings.s3_secret_access_key is not None
    return S3Storage(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url or None,
        region=settings.s3_region or None,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        addressing_style=settings.s3_addressing_style,
    )


_storage = Chosen(lambda: build_storage(get_settings()))


def get_storage() -> Storage:
    """The process's storage, built from settings on first use."""
    return _storage.get()


def set_storage(storage: Storage | None) -> None:
    """Replace the process's storage (tests, or an app's own backend); None rebuilds it."""
    _storage.set(storage)


async def close_storage() -> None:
    """Release the backend's connections and forget it (app shutdown)."""
    storage = _storage.take()
    if storage is not None:
        await storage.close()


async def blob_url(blob: Blob, expires_in: int | None = None) -> str:
    """A fresh signed (local) or presigned (S3) URL for a stored blob's bytes."""
    expiry = expires_in or get_settings().storage_url_expiry
    return await get_storage().url(blob.key, expires_in=expiry)


async def remove_blob(blob: Blob) -> None:
    """Delete the bytes, then the record."""
    await get_storage().delete(blob.key)
    await blob.delete()
