#!/usr/bin/env bash
# Installs the Debian packages the test suite uses (now and in the container, Hook build,
# netboot and power tests): only the missing ones, so a warm machine pays nothing.
set -euo pipefail

PACKAGES=(
    chromium                      # browser tests (Playwright drives the system Chromium)
    podman runc                   # Docker Engine API for action containers
    docker-registry skopeo        # local OCI registry
    busybox-static                # test images
    qemu-system-x86 ipxe-qemu     # booting what Rackpilot builds
    ovmf                          # UEFI firmware for the UEFI PXE boot test
    linux-image-cloud-amd64       # a real kernel for boot tests
    dnsmasq-base iproute2         # DHCP/PXE in a network namespace
    kea-dhcp4-server              # checks the exported Kea configuration (kea-dhcp4 -t)
    ipmitool                      # IPMI power control
    libarchive13                  # cpio/tar writing for the Hook builder
    debootstrap                   # the Rackpilot Hook's base image (build_hook_image)
    fdisk dosfstools mtools       # the disk image the end-to-end workflow installs ...
    syslinux syslinux-common      # ... and the bootloader it boots from
    nginx-light                   # reference server for the netboot benchmark
    wrk                           # HTTP load generator for the netboot benchmark
    golang-go golang-github-masterminds-sprig-dev  # Go text/template + Sprig: the oracle the template engine's tests diff against
    protobuf-compiler libprotobuf-dev protoc-gen-go protoc-gen-go-grpc  # a Go client
    golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev  # of the gRPC service
    golang-github-golang-protobuf-1-5-dev
    golang-gopkg-yaml.v3-dev      # go-yaml, what LinuxKit reads recipes with: the oracle of the recipe checks
)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${missing[*]} (install them as root with apt-get)" >&2
    exit 1
fi

echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
