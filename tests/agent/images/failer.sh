#!/bin/sh
# Prints one line to stderr and exits with EXIT_CODE (default 3).
code="${EXIT_CODE:-3}"
echo "failer: failing with exit code $code" >&2
exit "$code"
