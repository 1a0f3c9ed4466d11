#!/bin/sh
# Writes CONTENT (exactly, no newline added) to the file TARGET, making its folder, and prints
# what it wrote. Without TARGET it exits 2.
if [ -z "${TARGET:-}" ]; then
    echo "writer: TARGET is not set" >&2
    exit 2
fi
mkdir -p "$(dirname "$TARGET")"
printf '%s' "${CONTENT-written by rackpilot-test/writer}" >"$TARGET"
echo "writer: wrote $(wc -c <"$TARGET") bytes to $TARGET"
