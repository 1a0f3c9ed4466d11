"""A small OCI distribution client: pull (indexes, manifests, blobs into the cache) and push.

Written on ``requests`` rather than driving skopeo: the builder needs blobs in a cache keyed by
digest, streamed and verified once, and a byte count of what was fetched; skopeo would copy
whole images into a layout of its own and hide that.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from builds.builder.cache import BlobCache

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
CHUNK = 1 << 20
TIMEOUT = 60


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class Reference:
    registry: str  # as written by users ("docker.io", "127.0.0.1:5000")
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        return text + (f"@{self.digest}" if self.digest else "")


def parse_reference(image: str) -> Reference:
    """Split an image reference the way docker does: a first component with '.', ':' or
    'localhost' is a registry host; otherwise Docker Hub (``alpine`` → library/alpine)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, image
        if "/" not in repository:
            repository = f"library/{repository}"
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, repository, tag, digest)


def api_host(registry: str) -> str:
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


@dataclass
class PulledImage:
    reference: Reference
    manifest_digest: str
    config: dict[str, Any]
    layers: list[Path]  # cached blob files, lowest layer first


@dataclass
class Client:
    cache: BlobCache
    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    insecure_registries: Collection[str] = ()
    mirrors: Mapping[str, Sequence[str]] = field(default_factory=dict)
    downloaded_bytes: int = 0
    cache_hits: int = 0
    session: requests.Session = field(default_factory=requests.Session)
    # Called for every chunk of a blob, so cancelling a build does not wait out a big layer.
    check_cancel: Callable[[], None] = lambda: None
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    # -- plumbing ------------------------------------------------------------------------------

    def _url(self, host: str, path: str) -> str:
        scheme = "http" if host in self.insecure_registries else "https"
        return f"{scheme}://{host}/v2/{path}"

    def _request(
        self, method: str, host: str, repository: str, path: str, **kwargs: Any
    ) -> requests.Response:
        """One request with the registry's auth dance: Basic up front, Bearer on challenge."""
        headers = dict(kwargs.pop("headers", {}))
        auth = self._credentials(host)
        token = self._tokens.get((host, repository))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        basic = requests.auth.HTTPBasicAuth(*auth) if auth and not token else None
        url = self._url(host, path)
        response = self.session.request(
            method, url, headers=headers, auth=basic, timeout=TIMEOUT, **kwargs
        )
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer"):
            response.close()
            token = self._fetch_token(host, repository, challenge)
            self._tokens[(host, repository)] = token
            headers["Authorization"] = f"Bearer {token}"
            response = self.session.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
        return response

    def _fetch_token(self, host: str, repository: str, challenge: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", None)
        if not realm:
            raise RegistryError(f"{host}: bearer challenge without a realm: {challenge}")
        params.setdefault("scope", f"repository:{repository}:pull")
        auth = self._credentials(host)
        response = self.session.get(
            realm,
            params=params,
            auth=requests.auth.HTTPBasicAuth(*auth) if auth else None,
            timeout=TIMEOUT,
        )
        if response.status_code != 200:
            raise RegistryError(f"{host}: token request failed with HTTP {response.status_code}")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"{host}: token response carries no token")
        return str(token)

    def _credentials(self, host: str) -> tuple[str, str] | None:
        # People write Docker Hub credentials for "docker.io", not its API host.
        if host == DOCKER_HUB_API and host not in self.credentials:
            return self.credentials.get(DOCKER_HUB)
        return self.credentials.get(host)

    def _chunks(self, response: requests.Response) -> Iterator[bytes]:
        for chunk in response.iter_content(chunk_size=CHUNK):
            self.check_cancel()
            yield chunk

    def _hosts(self, reference: Reference) -> list[str]:
        """Mirrors first, then the registry itself."""
        return [*self.mirrors.get(reference.registry, ()), api_host(reference.registry)]

    # -- pull ----------------------------------------------------------------------------------

    def _get_manifest(self, reference: Reference, ref: str) -> tuple[str, dict[str, Any], str]:
        """Return (digest, manifest, media type) from the first host that has it."""
        errors = []
        for host in self._hosts(reference):
            try:
                response = self._request(
                    "GET",
                    host,
                    reference.repository,
                    f"{reference.repository}/manifests/{ref}",
                    headers={"Accept": ACCEPT},
                )
            except requests.RequestException as exc:
                errors.append(f"{host}: {exc.__class__.__name__}: {exc}")
                continue
            if response.status_code == 200:
                body = response.content
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                if ref.startswith("sha256:") and digest != ref:
                    raise RegistryError(f"{reference}: manifest digest is {digest}, wanted {ref}")
                media = response.headers.get("Content-Type", "").split(";")[0]
                manifest = json.loads(body)
                return digest, manifest, manifest.get("mediaType") or media
            errors.append(f"{host}: HTTP {response.status_code} {_error_text(response)}")
        raise RegistryError(f"{reference}: manifest not found ({'; '.join(errors)})")

    def pull(self, image: str, arch: str) -> PulledImage:
        """Resolve ``image`` for linux/``arch`` and make sure its config and layers are cached."""
        reference = parse_reference(image)
        platform_arch = ARCHITECTURES.get(arch, arch)
        manifest_digest, manifest, media = self._get_manifest(reference, reference.reference)
        if media in (OCI_INDEX, DOCKER_LIST) or "manifests" in manifest:
            chosen = [
                m
                for m in manifest.get("manifests", [])
                if m.get("platform", {}).get("architecture") == platform_arch
                and m.get("platform", {}).get("os", "linux") == "linux"
            ]
            if not chosen:
                raise RegistryError(f"{reference}: no linux/{platform_arch} image in its index")
            manifest_digest, manifest, media = self._get_manifest(reference, chosen[0]["digest"])
        if "config" not in manifest or "layers" not in manifest:
            raise RegistryError(f"{reference}: unsupported manifest type {media!r}")
        config_path = self.fetch_blob(reference, manifest["config"]["digest"])
        config = json.loads(config_path.read_bytes())
        image_arch = config.get("architecture")
        if image_arch and image_arch != platform_arch:
            raise RegistryError(f"{reference}: image is for {image_arch}, wanted {platform_arch}")
        layers = [self.fetch_blob(reference, layer["digest"]) for layer in manifest["layers"]]
        return PulledImage(reference, manifest_digest, config, layers)

    def fetch_blob(self, reference: Reference, digest: str) -> Path:
        if self.cache.has(digest):
            self.cache_hits += 1
            return self.cache.path(digest)
        errors = []
        for host in self._hosts(reference):
            try:
                response = self._request(
                    "GET",
                    host,
                    reference.repository,
                    f"{reference.repository}/blobs/{digest}",
                    stream=True,
                )
            except requests.RequestException as exc:
                errors.append(f"{host}: {exc}")
                continue
            if response.status_code != 200:
                errors.append(f"{host}: HTTP {response.status_code}")
                response.close()
                continue
            with response:
                self.downloaded_bytes += self.cache.store(digest, self._chunks(response))
            return self.cache.path(digest)
        raise RegistryError(f"{reference}: blob {digest} not found ({'; '.join(errors)})")

    # -- push (tests and tooling make images without a Docker daemon) ---------------------------

    def push_blob(self, reference: Reference, data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        host = api_host(reference.registry)
        name = reference.repository
        head = self._request("HEAD", host, name, f"{name}/blobs/{digest}")
        if head.status_code != 200:
            start = self._request("POST", host, name, f"{name}/blobs/uploads/")
            if start.status_code != 202:
                raise RegistryError(f"{reference}: upload refused: HTTP {start.status_code}")
            location = start.headers["Location"]
            if location.startswith("/v2/"):
                location = location[len("/v2/") :]
            elif "/v2/" in location:
                location = location.split("/v2/", 1)[1]
            separator = "&" if "?" in location else "?"
            done = self._request(
                "PUT",
                host,
                name,
                f"{location}{separator}digest={digest}",
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            if done.status_code != 201:
                raise RegistryError(f"{reference}: upload failed: HTTP {done.status_code}")
        return {"digest": digest, "size": len(data)}

    def push_image(
        self,
        image: str,
        layers: Sequence[bytes],
        config: Mapping[str, Any],
        *,
        layer_media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip",
    ) -> str:
        """Push an image given its layer blobs (already compressed) and config; return digest."""
        reference = parse_reference(image)
        config_blob = json.dumps(config).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **self.push_blob(reference, config_blob),
            },
            "layers": [
                {"mediaType": layer_media_type, **self.push_blob(reference, layer)}
                for layer in layers
            ],
        }
        return self._put_manifest(reference, manifest, OCI_MANIFEST)

    def push_index(self, image: str, platforms: Mapping[str, str]) -> str:
        """Push an OCI index over manifests already in the repository: {arch: digest}."""
        reference = parse_reference(image)
        name, host = reference.repository, api_host(reference.registry)
        entries = []
        for arch, digest in platforms.items():
            head = self._request(
                "HEAD", host, name, f"{name}/manifests/{digest}", headers={"Accept": ACCEPT}
            )
            if head.status_code != 200:
                raise RegistryError(f"{reference}: no manifest {digest} to index")
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": int(head.headers["Content-Length"]),
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return self._put_manifest(reference, index, OCI_INDEX)

    def _put_manifest(self, reference: Reference, manifest: Mapping[str, Any], media: str) -> str:
        body = json.dumps(manifest).encode()
        name = reference.repository
        response = self._request(
            "PUT",
            api_host(reference.registry),
            name,
            f"{name}/manifests/{reference.reference}",
            data=body,
            headers={"Content-Type": media},
        )
        if response.status_code != 201:
            raise RegistryError(f"{reference}: manifest refused: {_error_text(response)}")
        return "sha256:" + hashlib.sha256(body).hexdigest()


def _error_text(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors", [])
        return "; ".join(str(e.get("message", e)) for e in errors)
    except ValueError:
        return response.text[:200]
