#!/bin/sh
# Prints one line of LONG_LINE_BYTES bytes (default 200000, the digits 0-9 repeated, without
# its newline counted), then the line "short line".
yes 0123456789 | tr -d '\n' | head -c "${LONG_LINE_BYTES:-200000}"
printf '\nshort line\n'
