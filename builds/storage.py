"""Where build artifacts live: ``STORAGES["artifacts"]`` (rackpilot/settings.py).

A file's key is ``<build id>/<file name>``, kept in ``BuildArtifact.path``. The local storage
is ``BUILD_ARTIFACTS_DIR`` itself: the builder writes a build's files there and they stay
("in place"). Any other storage (an S3 bucket shared by several hosts) gets a copy that the
worker uploads (``builds.services.artifacts``). Reads go through ``artifact_source``, which
every artifact download uses, so ranges are answered the same from either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.http import Http404

from builds.ranges import CHUNK, ByteSource, LocalFile, read_range

ALIAS = "artifacts"


class LocalArtifactStorage(FileSystemStorage):
    """``BUILD_ARTIFACTS_DIR`` (always: builds, the runner and nginx's alias all name that
    folder), read at each use rather than when the storage is made: the storage outlives a
    changed setting (tests change it; so may a management command)."""

    @property
    def base_location(self) -> str:
        return str(settings.BUILD_ARTIFACTS_DIR)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def artifact_storage() -> Storage:
    return storages[ALIAS]


def artifact_key(build_id: int, name: str) -> str:
    return f"{build_id}/{name}"


def stores_in_place(storage: Storage | None = None) -> bool:
    """True when the storage is ``BUILD_ARTIFACTS_DIR``: what the builder wrote there is
    already stored, and must not be removed after the build."""
    storage = storage or artifact_storage()
    return isinstance(storage, FileSystemStorage) and (
        Path(storage.location).resolve() == Path(settings.BUILD_ARTIFACTS_DIR).resolve()
    )


def _is_s3(storage: Storage) -> bool:
    # Imported only when a storage other than the filesystem is configured: boto3 is slow to
    # import and the embedded default never needs it.
    from storages.backends.s3 import S3Storage

    return isinstance(storage, S3Storage)


def artifact_source(key: str) -> ByteSource:
    """The stored file ``key`` as a source for ``ranged_response``; Http404 if it is gone."""
    storage = artifact_storage()
    if isinstance(storage, FileSystemStorage):
        return LocalFile(Path(storage.path(key)))
    if _is_s3(storage):
        return S3Object(storage, key)
    return StorageFile(storage, key)


def accel_redirect_target(key: str) -> str | None:
    """Where the reverse proxy finds ``key`` (the ``X-Accel-Redirect`` value), or None when
    Rackpilot must send the file itself (no prefix set, or a storage nginx cannot reach)."""
    prefix = settings.ARTIFACTS_ACCEL_REDIRECT
    if not prefix:
        return None
    storage = artifact_storage()
    if isinstance(storage, FileSystemStorage):
        return f"{prefix}/{quote(key)}"
    if _is_s3(storage):
        # A presigned GET: nginx needs no credentials, only the endpoint's address, and the
        # URL (path and signature) is good for the storage's querystring_expire seconds.
        url = urlsplit(storage.url(key))
        return f"{prefix}{url.path}?{url.query}"
    return None


class S3Object:
    """An object read with ranged GETs, its body streamed in chunks. The size comes from a
    HEAD; each GET carries the ETag seen there, so a replaced object is a 404, never bytes of
    two versions in one answer."""

    def __init__(self, storage: Any, key: str):
        from botocore.exceptions import ClientError
        from storages.utils import clean_name

        self._client = storage.connection.meta.client
        self._bucket = storage.bucket_name
        self._key = storage._normalize_name(clean_name(key))
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._key)
        except ClientError as exc:
            if _status(exc) == 404:
                raise Http404("The artifact's file is missing.") from exc
            raise
        self.size = int(head["ContentLength"])
        self.modified = head["LastModified"].timestamp()
        self._etag = head["ETag"]

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        if length <= 0:
            return iter(())
        try:
            response = self._client.get_object(
                Bucket=self._bucket,
                Key=self._key,
                Range=f"bytes={start}-{start + length - 1}",
                IfMatch=self._etag,
            )
        except ClientError as exc:
            if _status(exc) in (404, 412):
                raise Http404("The artifact's file is missing or was replaced.") from exc
            raise
        return _body_chunks(response["Body"])


def _body_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def _status(error: Any) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class StorageFile:
    """Any other Django storage, through ``open`` and ``seek``."""

    def __init__(self, storage: Storage, key: str):
        if not storage.exists(key):
            raise Http404("The artifact's file is missing.")
        self._storage = storage
        self._key = key
        self.size = storage.size(key)
        self.modified = storage.get_modified_time(key).timestamp()

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        with self._storage.open(self._key, "rb") as handle:
            yield from read_range(handle, start, length)
