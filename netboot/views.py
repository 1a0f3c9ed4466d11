"""Public netboot and metadata endpoints: machines call them before they have any credentials,
so the MAC in the path or the request's source address is what identifies them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from builds import views_artifacts
from inventory.fields import normalize_mac
from netboot import selectors, services
from netboot.addresses import client_address
from netboot.metadata import metadata_lookup, metadata_tree
from netboot.metrics import counted
from netboot.ratelimit import rate_limited

TEXT = "text/plain; charset=utf-8"


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, content_type=TEXT, status=status)


def _not_found(reason: str) -> HttpResponse:
    return _text(reason + "\n", status=404)


def _source_ip(request: HttpRequest) -> str:
    return client_address(request)


# Scripts and metadata share one budget per source address, artifacts have their own (see
# NETBOOT_RATE_LIMIT in settings), keyed by the address the views themselves act on (looked up
# per request, so the limit follows _source_ip wherever it goes). Counted after the method
# check: a 405 costs nothing.
_limit_boot = rate_limited("boot", "NETBOOT_RATE_LIMIT", lambda request: _source_ip(request))
_limit_artifacts = rate_limited(
    "artifacts", "NETBOOT_ARTIFACT_RATE_LIMIT", lambda request: _source_ip(request)
)


def _serve(
    request: HttpRequest,
    boot: selectors.BootInterface | None,
    lookup: str,
    mac: str | None = None,
) -> HttpResponse:
    try:
        served = services.netboot_script_serve(
            boot=boot,
            lookup=lookup,
            source_ip=_source_ip(request) or None,
            mac=mac,
            # What iPXE says about itself, for discovery (see services._discovery_script).
            ipxe_arch=request.GET.get("arch") or None,
            platform=request.GET.get("platform") or None,
        )
    except services.NetbootRefused as exc:
        return _not_found(str(exc))
    return _text(served.text)


@counted("script")
@never_cache
@require_GET
@_limit_boot
def script_by_mac(request: HttpRequest, mac: str) -> HttpResponse:
    try:
        normalized = normalize_mac(mac)
    except ValidationError:
        return _not_found(f"{mac!r} is not a MAC address")
    return _serve(
        request, selectors.boot_interface_by_mac(normalized), f"with MAC {normalized}", normalized
    )


@counted("script")
@never_cache
@require_GET
@_limit_boot
def script_by_ip(request: HttpRequest) -> HttpResponse:
    ip = _source_ip(request)
    try:
        boot = selectors.boot_interface_by_ip(ip) if ip else None
    except selectors.AmbiguousAddress as exc:
        return _not_found(str(exc))
    return _serve(request, boot, f"with IP {ip}")


@counted("metadata")
@never_cache
@require_GET
@_limit_boot
def meta_data(request: HttpRequest, version: str, path: str = "") -> HttpResponse:
    ip = _source_ip(request)
    try:
        interface = selectors.interface_by_ip_with_tags(ip) if ip else None
    except selectors.AmbiguousAddress as exc:
        return _not_found(str(exc))
    if interface is None:
        return _not_found(f"no machine has an interface with IP {ip}")
    tree = metadata_tree(machine=interface.machine, interface=interface)
    body = metadata_lookup(tree, path)
    if body is None:
        return _not_found(f"no meta-data at {path!r}")
    return _text(body)


@counted("metadata")
@never_cache
@require_GET
@_limit_boot
def user_data(request: HttpRequest, version: str) -> HttpResponse:
    ip = _source_ip(request)
    try:
        interface = selectors.interface_by_ip(ip) if ip else None
    except selectors.AmbiguousAddress as exc:
        return _not_found(str(exc))
    if interface is None:
        return _not_found(f"no machine has an interface with IP {ip}")
    if not interface.machine.user_data:
        return _not_found(f"{interface.machine.hostname} has no user-data")
    return _text(interface.machine.user_data)


@counted("artifact")
@require_http_methods(["GET", "HEAD"])
@_limit_artifacts
def artifact(request: HttpRequest, arch: str, name: str) -> HttpResponseBase:
    """The builds app's public artifact download, plus a boot event on the timeline of the
    machine whose address asked (iPXE fetches from the machine's own IP)."""
    response = views_artifacts.default_artifact(request, arch=arch, name=name)
    ip = _source_ip(request)
    range_header = request.headers.get("Range", "")
    # One event per download: HEAD probes and later ranges of a resumed download are not new.
    first_bytes = not range_header or range_header.replace(" ", "").startswith("bytes=0-")
    if (
        request.method == "GET"
        and response.status_code in (200, 206)
        and first_bytes
        and ip
        and services.fetch_verb(name)
    ):
        try:
            interface = selectors.interface_by_ip(ip)
        except selectors.AmbiguousAddress:
            interface = None  # no timeline can tell whose download this was
        if interface is not None:
            services.netboot_artifact_fetched(
                interface=interface, name=name, source_ip=ip, partial=bool(range_header)
            )
    return response
