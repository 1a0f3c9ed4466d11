#!/bin/sh
# Prints LINES numbered lines, "line 1" to "line N", then exits with EXIT_CODE.
#   LINES=100      how many lines
#   DELAY=0.01     seconds to sleep between lines (0: no sleep at all)
#   STREAM=stdout  stdout | stderr | both (both: odd lines on stdout, even lines on stderr)
#   EXIT_CODE=0
# Every tenth line is wrapped in an ANSI colour (green on stdout, red on stderr), so the log
# pipeline sees escape sequences exactly where a test expects them.
count="${LINES:-100}"
delay="${DELAY:-0.01}"
stream="${STREAM:-stdout}"
i=1
while [ "$i" -le "$count" ]; do
    target=1
    if [ "$stream" = stderr ] || { [ "$stream" = both ] && [ $((i % 2)) -eq 0 ]; }; then
        target=2
    fi
    if [ $((i % 10)) -ne 0 ]; then
        printf 'line %d\n' "$i" >&"$target"
    elif [ "$target" = 1 ]; then
        printf '\033[32mline %d\033[0m\n' "$i"
    else
        printf '\033[31mline %d\033[0m\n' "$i" >&2
    fi
    if [ "$delay" != 0 ]; then
        sleep "$delay"
    fi
    i=$((i + 1))
done
exit "${EXIT_CODE:-0}"
