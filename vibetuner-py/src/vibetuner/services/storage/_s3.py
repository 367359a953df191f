"""Blobs in an S3-compatible bucket (AWS S3, R2, MinIO, SeaweedFS) through aioboto3.

aioboto3 is imported when the backend is first used, never by `import vibetuner`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

from vibetuner.exceptions import ServiceUnavailable
from vibetuner.services.storage._base import (
    CHUNK_SIZE,
    DEFAULT_TYPE,
    BlobContent,
    BlobNotFound,
    Counted,
    Storage,
    StorageError,
    check_expiry,
    check_key,
    content_disposition,
)

PART_SIZE = 8 * 1024 * 1024
"""Streams larger than this go up as a multipart upload, one part in memory at a time."""
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
DENIED = frozenset({"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
SERVICE = "S3 storage"


class S3Storage(Storage):
    """One bucket; a client per operation, so any event loop (and thread) can use it."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: Literal["auto", "path", "virtual"] = "auto",
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self._client_options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        if addressing_style == "auto":
            addressing_style = "path" if endpoint_url else "virtual"
        self._addressing_style = addressing_style
        self._session: Any = None

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        import aioboto3  # s3 extra
        from botocore.config import Config

        if self._session is None:
            self._session = aioboto3.Session()
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": self._addressing_style},
            # Checksums only when required: several S3-compatible servers reject the rest.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=5,
            retries={"max_attempts": 2},
        )
        with self._errors():
            async with self._session.client("s3", config=config, **self._client_options) as s3:
                yield s3

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Connection failures are a 503; a missing bucket or bad keys say how to fix them."""
        from botocore.exceptions import (  # s3 extra
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        try:
            yield
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                ConnectionClosedError) as exc:  # fmt: skip
            raise ServiceUnavailable(SERVICE) from exc
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchBucket":
                raise StorageError(
                    f"The bucket {self.bucket!r} does not exist at {self._where}.",
                    fix="Create it, or set S3_BUCKET to an existing bucket.",
                ) from exc
            if code in DENIED:
                raise StorageError(
                    f"S3 refused access to the bucket {self.bucket!r} ({code}).",
                    fix="Check S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and the bucket's policy.",
                ) from exc
            raise

    @property
    def _where(self) -> str:
        return self.endpoint_url or "AWS S3"

    async def _write(self, key: str, data: Counted, content_type: str, disposition: str) -> None:
        target = {"Bucket": self.bucket, "Key": key}
        headers = {"ContentType": content_type, "ContentDisposition": disposition}
        buffer = bytearray()
        parts: list[dict[str, Any]] = []
        upload_id: str | None = None
        async with self._client() as s3:
            try:
                async for chunk in data:
                    buffer += chunk
                    if len(buffer) >= PART_SIZE:
                        if upload_id is None:
                            created = await s3.create_multipart_upload(**target, **headers)
                            upload_id = str(created["UploadId"])
                        parts.append(await _upload_part(s3, target, upload_id, parts, buffer))
                        buffer.clear()
                if upload_id is None:
                    await s3.put_object(**target, Body=bytes(buffer), **headers)
                else:
                    if buffer:
                        parts.append(await _upload_part(s3, target, upload_id, parts, buffer))
                    await s3.complete_multipart_upload(
                        **target, UploadId=upload_id, MultipartUpload={"Parts": parts}
                    )
            except BaseException:
                if upload_id is not None:
                    with contextlib.suppress(Exception):
                        await s3.abort_multipart_upload(**target, UploadId=upload_id)
                raise

    async def get(self, key: str) -> BlobContent:
        async with self._object(key) as response:
            content = await response["Body"].read()
        content_type = str(response.get("ContentType") or DEFAULT_TYPE)
        disposition = str(response.get("ContentDisposition") or content_disposition(content_type))
        return BlobContent(content, content_type, disposition)

    async def download(self, key: str, path: Path) -> None:
        async with self._object(key) as response:
            with path.open("wb") as file:
                async for chunk in response["Body"].iter_chunks(CHUNK_SIZE):
                    await asyncio.to_thread(file.write, chunk)

    @contextlib.asynccontextmanager
    async def _object(self, key: str) -> AsyncIterator[dict[str, Any]]:
        """GetObject's answer, its body open for the block; BlobNotFound when missing."""
        from botocore.exceptions import ClientError  # s3 extra

        check_key(key)
        async with self._client() as s3:
            try:
                response = await s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in MISSING:
                    raise BlobNotFound(key) from None
                raise
            async with response["Body"]:  # released even if the block fails
                yield response

    async def delete(self, key: str) -> None:
        check_key(key)
        async with self._client() as s3:
            await s3.delete_object(Bucket=self.bucket, Key=key)

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError  # s3 extra

        check_key(key)
        async with self._client() as s3:
            try:
                await s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in MISSING:
                    return False
                raise
        return True

    async def keys(self, prefix: str) -> list[str]:
        folder = check_key(prefix) + "/"
        found: list[str] = []
        async with self._client() as s3:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder)
            async for page in pages:
                found += [str(item["Key"]) for item in page.get("Contents", [])]
        return sorted(found)

    async def url(self, key: str, *, expires_in: int) -> str:
        check_key(key)
        async with self._client() as s3:
            url = await s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=check_expiry(expires_in),
            )
        return str(url)

    async def check(self) -> str:
        from botocore.exceptions import ClientError  # s3 extra

        async with self._client() as s3:
            try:
                await s3.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) in MISSING:
                    raise StorageError(
                        f"The bucket {self.bucket!r} does not exist at {self._where}.",
                        fix="Create it, or set S3_BUCKET to an existing bucket.",
                    ) from exc
                raise
        return f"s3 (bucket {self.bucket} at {self._where})"


async def _upload_part(
    s3: Any, target: dict[str, str], upload_id: str, parts: list[dict[str, Any]], body: bytearray
) -> dict[str, Any]:
    number = len(parts) + 1
    part = await s3.upload_part(**target, UploadId=upload_id, PartNumber=number, Body=bytes(body))
    return {"ETag": part["ETag"], "PartNumber": number}


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
