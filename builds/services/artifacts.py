"""A build's files into the artifact storage, and out of it again.

With the local storage the builder already wrote them where they are kept; with any other
(S3), each file is streamed from the worker's scratch folder to ``<build id>/<name>`` before
the build is recorded as a success, so no web process ever sees a build whose files are not
there yet.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from django.core.files import File

from builds.services.lifecycle import ArtifactFile
from builds.storage import artifact_key, artifact_storage, stores_in_place

logger = logging.getLogger(__name__)


def artifacts_store(*, build_id: int, files: Sequence[ArtifactFile]) -> list[ArtifactFile]:
    """``files`` with their storage keys. All or nothing: a failed upload removes what was
    uploaded before it and raises."""
    storage = artifact_storage()
    if stores_in_place(storage):
        return list(files)
    stored: list[ArtifactFile] = []
    try:
        for file in files:
            with Path(file.path).open("rb") as handle:
                # A File over the open handle: the storage reads it in parts (S3: a
                # multipart upload), never the whole file into memory.
                key = storage.save(artifact_key(build_id, file.name), File(handle, file.name))
            stored.append(dataclasses.replace(file, key=key))
    except BaseException:
        artifacts_discard(files=stored)
        raise
    return stored


def artifacts_discard(*, files: Sequence[ArtifactFile]) -> None:
    """Remove uploaded files whose build will not hold them (its result was not stored).
    Best effort: a leftover object is only space, and the failure being handled matters
    more."""
    storage = artifact_storage()
    for file in files:
        if not file.key:
            continue
        try:
            storage.delete(file.key)
        except Exception:
            logger.warning("artifact %s not removed from the storage", file.key, exc_info=True)
