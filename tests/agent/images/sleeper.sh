#!/bin/sh
# Prints a line, sleeps SLEEP seconds (default 30), prints another line and exits 0: the action
# that timeout and cancel tests interrupt.
# SIGTERM ends it at once with "terminated" and exit code 143 (a graceful stop). With
# IGNORE_TERM=1 it ignores SIGTERM, so only SIGKILL (the end of a stop timeout) ends it.
seconds="${SLEEP:-30}"
if [ "${IGNORE_TERM:-0}" = 1 ]; then
    trap '' TERM
else
    trap 'echo terminated; exit 143' TERM
fi
echo "sleeping ${seconds}s"
# Sleeping in the background lets the shell run its trap as soon as the signal arrives.
sleep "$seconds" &
wait $!
echo "woke up"
