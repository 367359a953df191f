"""Blob storage: one async interface, local files in dev, any S3-compatible bucket in prod.

    from vibetuner.services.storage import get_storage, new_key
    stored = await get_storage().put(new_key("reports", "application/pdf"), data,
                                     content_type="application/pdf")
    link = await get_storage().url(stored.key, expires_in=300)

StorageError (VibetunerError)
├── BlobNotFound     nothing is stored under that key
└── InvalidBlobKey   the key could escape its folder or is not a generated key
"""

from __future__ import annotations

from vibetuner.services.storage._base import (
    BlobContent,
    BlobNotFound,
    InvalidBlobKey,
    Storage,
    StorageError,
    StoredBlob,
    check_key,
    content_disposition,
    new_key,
)
from vibetuner.services.storage._local import LocalStorage, URLSigner
from vibetuner.services.storage._s3 import S3Storage
from vibetuner.services.storage._select import (
    BLOBS_URL,
    blob_url,
    blobs_dir,
    build_storage,
    check_storage_config,
    close_storage,
    get_storage,
    remove_blob,
    set_storage,
)

__all__ = [
    "BLOBS_URL",
    "BlobContent",
    "BlobNotFound",
    "InvalidBlobKey",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StorageError",
    "StoredBlob",
    "URLSigner",
    "blob_url",
    "blobs_dir",
    "build_storage",
    "check_key",
    "check_storage_config",
    "close_storage",
    "content_disposition",
    "get_storage",
    "new_key",
    "remove_blob",
    "set_storage",
]
