#!/usr/bin/env bash
# Starts by hand what the container tests start per worker: a local OCI registry, rootful podman
# serving the Docker Engine API, and the rackpilot-test action images pushed to that registry.
# Prints DOCKER_HOST, the podman environment and the image references; Ctrl-C stops it all and
# removes its containers. RACKPILOT_CONTAINERS_NAME picks the folder /tmp/rackpilot-test-<name>
# (default "manual"), whose registry blobs and podman storage are kept for the next start.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m tests.containers "$@"
