"""The workflow's action images, built by the test from busybox and pushed to the test registry
with the builder's registry client (no Docker daemon involved).

Each takes the environment of the Tinkerbell action of the same name, so a template written
for Tinkerbell's published actions runs against them unchanged:
- image2disk: IMG_URL, DEST_DISK, COMPRESSED (gzip);
- writefile: DEST_DISK, FS_TYPE, DEST_PATH, CONTENTS, MODE, UID, GID (and DIRMODE);
- reboot: its name makes the agent report it as soon as it runs
  (rackpilot_agent.runner.reports_on_start); it reboots once the agent's "reported" file
  appears (RACKPILOT_REPORTED_FILE), or, under another agent, after WAIT_SECONDS as
  Tinkerbell's waitdaemon does.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from builds.builder.cache import BlobCache
from builds.builder.registry import Client
from tests.builds.images import BUSYBOX, Layer, _config

REPOSITORY = "rackpilot-e2e"
TAG = "v1"
APPLETS = [
    "sh", "wget", "gunzip", "cat", "dd", "blockdev", "echo", "mount", "umount", "mkdir",
    "dirname", "chmod", "chown", "sync", "sleep", "printf", "ls",
]  # fmt: skip

IMAGE2DISK = r"""#!/bin/sh
set -eu
set -o pipefail
: "${IMG_URL:?IMG_URL is required}"
: "${DEST_DISK:?DEST_DISK is required}"
case "${COMPRESSED:-false}" in
  true|TRUE|True|1) decompress="gunzip -c" ;;
  *) decompress="cat" ;;
esac
echo "image2disk: streaming $IMG_URL to $DEST_DISK (compressed: ${COMPRESSED:-false})"
wget -q -O - "$IMG_URL" | $decompress | dd of="$DEST_DISK" bs=1M conv=fsync 2>&1
echo "image2disk: reading the partition table of $DEST_DISK again"
blockdev --rereadpt "$DEST_DISK"
ls "$DEST_DISK"* | while read -r device; do echo "image2disk: $device"; done
echo "image2disk: done"
"""

WRITEFILE = r"""#!/bin/sh
set -eu
: "${DEST_DISK:?DEST_DISK is required}"
: "${FS_TYPE:?FS_TYPE is required}"
: "${DEST_PATH:?DEST_PATH is required}"
target_root=/mnt/target
mkdir -p "$target_root"
echo "writefile: mounting $DEST_DISK ($FS_TYPE)"
mount -t "$FS_TYPE" "$DEST_DISK" "$target_root"
target="$target_root/${DEST_PATH#/}"
mkdir -p "$(dirname "$target")"
chmod "${DIRMODE:-0755}" "$(dirname "$target")"
printf '%s' "${CONTENTS:-}" > "$target"
chmod "${MODE:-0644}" "$target"
chown "${UID:-0}:${GID:-0}" "$target"
sync
umount "$target_root"
echo "writefile: wrote $DEST_PATH (mode ${MODE:-0644}, owner ${UID:-0}:${GID:-0})"
"""

REBOOT = r"""#!/bin/sh
sync
if [ -n "${RACKPILOT_REPORTED_FILE:-}" ]; then
  # rackpilot-agent writes this file once the server has acknowledged the action's success.
  echo "reboot: waiting until the agent has reported this action"
  waited=0
  while [ ! -e "$RACKPILOT_REPORTED_FILE" ] && [ "$waited" -lt 120 ]; do
    sleep 1
    waited=$((waited + 1))
  done
  word=$(cat "$RACKPILOT_REPORTED_FILE" 2>/dev/null || echo "no word from the agent:")
  echo "reboot: $word reported"
else
  echo "reboot: rebooting in ${WAIT_SECONDS:-10} s"
  sleep "${WAIT_SECONDS:-10}"
fi
sleep 1  # the line above reaches the agent's log
echo b > /proc/sysrq-trigger
"""

SCRIPTS = {"image2disk": IMAGE2DISK, "writefile": WRITEFILE, "reboot": REBOOT}


def _layer(name: str, script: str) -> bytes:
    layer = Layer()
    for directory in ("bin", "dev", "etc", "mnt", "proc", "sys", "tmp", "usr", "usr/local"):
        layer.directory(directory)
    layer.directory("usr/local/bin")
    layer.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in APPLETS:
        layer.symlink(f"bin/{applet}", "busybox")
    layer.file(f"usr/local/bin/{name}", script.encode(), mode=0o755)
    return layer.blob()


def push_action_images(registry: str, scratch: Path) -> dict[str, str]:
    """Push the three images to ``registry``; returns name → repository path (without the
    registry, which the guest reaches under another address)."""
    client = Client(cache=BlobCache(scratch), insecure_registries=[registry])
    paths = {}
    for name, script in SCRIPTS.items():
        path = f"{REPOSITORY}/{name}:{TAG}"
        layer = _layer(name, script)
        config = _config(Cmd=[f"/usr/local/bin/{name}"], Env=["PATH=/bin:/usr/local/bin"])
        # dockerd checks the layers against the config's uncompressed digests.
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
        config["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
        client.push_image(f"{registry}/{path}", [layer], config)
        paths[name] = path
    return paths
