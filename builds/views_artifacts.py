"""``/artifacts/<arch>/<name>``: the default build's files, public (machines netboot them)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponseBase
from django.views.decorators.http import require_http_methods

from builds import selectors
from builds.downloads import serve_artifact


@require_http_methods(["GET", "HEAD"])
def default_artifact(request: HttpRequest, arch: str, name: str) -> HttpResponseBase:
    artifact = selectors.default_artifact(arch=arch, name=name)
    if artifact is None:
        raise Http404(f"No default {arch} build has an artifact {name!r}.")
    return serve_artifact(request, artifact, attachment=False)
