"""Answering an artifact download, for the API and the public netboot URL alike.

Behind nginx (``ARTIFACTS_ACCEL_REDIRECT``) a GET is answered with ``X-Accel-Redirect`` and no
body once the view's checks passed: nginx sends the file (ranges included) from its internal
location, and no web process is held for the length of a download. HEAD, and every request
without a proxy, is answered here from the storage, with ranges.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from builds.models import BuildArtifact
from builds.ranges import ranged_response
from builds.storage import accel_redirect_target, artifact_source


def serve_artifact(
    request: HttpRequest, artifact: BuildArtifact, *, attachment: bool
) -> HttpResponseBase:
    filename = artifact.name if attachment else ""
    if request.method == "GET":
        target = accel_redirect_target(artifact.path)
        if target is not None:
            response = HttpResponse(content_type="application/octet-stream")
            response["X-Accel-Redirect"] = target
            if filename:
                response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
    return ranged_response(
        request, artifact_source(artifact.path), etag=artifact.sha256, filename=filename
    )
