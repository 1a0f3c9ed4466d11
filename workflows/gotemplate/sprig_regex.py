"""Sprig's regular-expression functions, with Go's RE2 syntax and matching (goregex.py).

The plain variants panic on a bad pattern (``regexp.MustCompile``) except ``regexMatch``,
which reports no match; the ``must`` variants return the compile error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import GoFuncError
from .goregex import RegexError, compile_go, find_all, quote_meta, replace_all, split
from .gotypes import NilStringSlice, StringSlice


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return compile_go(pattern)
    except RegexError as error:
        raise GoFuncError(f"regexp: Compile({pattern!r}): {error}") from None


def regex_match(regex: str, s: str) -> bool:
    try:
        return compile_go(regex).search(s) is not None
    except RegexError:
        return False


def must_regex_match(regex: str, s: str) -> bool:
    return _compile(regex).search(s) is not None


def regex_find_all(regex: str, s: str, n: int) -> StringSlice:
    matches = find_all(_compile(regex), s, n)
    if not matches:
        return NilStringSlice()
    return StringSlice(match.group(0) for match in matches)


def regex_find(regex: str, s: str) -> str:
    match = _compile(regex).search(s)
    return match.group(0) if match else ""


def regex_replace_all(regex: str, s: str, repl: str) -> str:
    return replace_all(_compile(regex), s, repl, literal=False)


def regex_replace_all_literal(regex: str, s: str, repl: str) -> str:
    return replace_all(_compile(regex), s, repl, literal=True)


def regex_split(regex: str, s: str, n: int) -> StringSlice:
    parts = split(_compile(regex), regex, s, n)
    return NilStringSlice() if parts is None else StringSlice(parts)


def regex_quote_meta(s: str) -> str:
    return quote_meta(s)


REGEX_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "regexMatch": regex_match,
    "mustRegexMatch": must_regex_match,
    "regexFindAll": regex_find_all,
    "mustRegexFindAll": regex_find_all,
    "regexFind": regex_find,
    "mustRegexFind": regex_find,
    "regexReplaceAll": regex_replace_all,
    "mustRegexReplaceAll": regex_replace_all,
    "regexReplaceAllLiteral": regex_replace_all_literal,
    "mustRegexReplaceAllLiteral": regex_replace_all_literal,
    "regexSplit": regex_split,
    "mustRegexSplit": regex_split,
    "regexQuoteMeta": regex_quote_meta,
}
