"""Sprig's camelcase, snakecase and kebabcase: huandu/xstrings' word splitting, rune for rune.

Words are runs of upper-case letters, lower-case letters, numbers, punctuation or
connectors ("-", "_", spaces); a number sticks to the word before it ("Bld4Floor" ->
"bld4_floor") unless lower-case letters follow it ("HTTP2xx" -> "http_2xx").
"""

from __future__ import annotations

from collections.abc import Callable

from . import gounicode as uni


def _is_connector(char: str) -> bool:
    return char in "-_" or uni.is_space(char)


def _is_alphabet(char: str) -> bool:
    # xstrings counts letters as alphabet except the CJK ideograph blocks.
    if not uni.is_letter(char):
        return False
    code = ord(char)
    if code < 0x3400:
        return True
    cjk = (
        (0x4E00, 0x9FCC),
        (0x3400, 0x4D85),
        (0x20000, 0x2A6D6),
        (0x2A700, 0x2B734),
        (0x2B740, 0x2B81D),
        (0xF900, 0xFAFF),
        (0x2F800, 0x2FA1F),
    )
    return not any(low <= code <= high for low, high in cjk)


def camelcase(s: str) -> str:
    if not s:
        return ""
    out: list[str] = []
    chars = list(s)
    index = 0
    current = ""
    while index < len(chars):
        current = chars[index]
        index += 1
        if not _is_connector(current):
            current = uni.upper_rune(current)
            break
        out.append(current)
    if index >= len(chars):
        # Go writes the last rune once more here, even when it was a connector already written.
        out.append(current)
        return "".join(out)
    while index < len(chars):
        previous, current = current, chars[index]
        index += 1
        if _is_connector(current) and _is_connector(previous):
            out.append(previous)
            continue
        if _is_connector(previous):
            current = uni.upper_rune(current)
        else:
            current = uni.lower_rune(current)
            out.append(previous)
    out.append(current)
    return "".join(out)


_INVALID, _NUMBER, _UPPER, _ALPHA, _CONNECTOR, _PUNCT, _OTHER = range(7)


def _scan(text: str, start: int, accept: Callable[[str], bool]) -> int:
    while start < len(text) and accept(text[start]):
        start += 1
    return start


def _next_word(text: str) -> tuple[int, str, str]:
    if not text:
        return _INVALID, "", ""
    first = text[0]
    end: int
    if _is_connector(first):
        kind, end = _CONNECTOR, _scan(text, 1, _is_connector)
    elif uni.is_punct(first):
        kind, end = _PUNCT, _scan(text, 1, uni.is_punct)
    elif uni.is_upper(first):
        kind, end = _UPPER, 1
        if len(text) > 1 and uni.is_upper(text[1]):
            end = _scan(text, 1, uni.is_upper)
            # "HTTPStatus" splits into "HTTP" and "Status".
            if end < len(text) and _is_alphabet(text[end]):
                end -= 1
        elif len(text) > 1 and _is_alphabet(text[1]):
            end = _scan(text, 1, lambda c: _is_alphabet(c) and not uni.is_upper(c))
    elif _is_alphabet(first):
        kind, end = _ALPHA, _scan(text, 1, lambda c: _is_alphabet(c) and not uni.is_upper(c))
    elif uni.is_number(first):
        kind, end = _NUMBER, _scan(text, 1, uni.is_number)
    else:
        kind = _OTHER
        end = _scan(
            text,
            1,
            lambda c: (
                not (_is_connector(c) or _is_alphabet(c) or uni.is_number(c) or uni.is_punct(c))
            ),
        )
    return kind, text[:end], text[end:]


def _lower_word(out: list[str], kind: int, word: str, connector: str) -> None:
    if kind not in (_UPPER, _CONNECTOR):
        out.append(word)
        return
    for char in word:
        if _is_connector(char):
            out.append(connector)
        elif uni.is_upper(char):
            out.append(uni.lower_rune(char))
        else:
            out.append(char)


def _to_lower_case(s: str, connector: str) -> str:
    if not s:
        return ""
    out: list[str] = []
    kind, word, rest = _next_word(s)
    while rest:
        if kind != _CONNECTOR:
            _lower_word(out, kind, word, connector)
        previous, last = kind, word
        kind, word, rest = _next_word(rest)
        if previous == _NUMBER:
            while kind in (_ALPHA, _NUMBER):
                _lower_word(out, kind, word, connector)
                kind, word, rest = _next_word(rest)
            if kind not in (_INVALID, _PUNCT, _CONNECTOR):
                out.append(connector)
        elif previous == _CONNECTOR:
            _lower_word(out, previous, last, connector)
        elif previous == _PUNCT:
            pass
        elif kind != _NUMBER:
            if kind not in (_CONNECTOR, _PUNCT):
                out.append(connector)
        elif rest:
            number = word
            kind, word, rest = _next_word(rest)
            if kind != _ALPHA:
                # A number directly after a word belongs to it: "Bld4Floor" -> "bld4_floor".
                _lower_word(out, _NUMBER, number, connector)
                if kind not in (_CONNECTOR, _PUNCT):
                    out.append(connector)
            else:
                # Lower-case letters after the number start a new word: "HTTP2xx" -> "http_2xx".
                out.append(connector)
                _lower_word(out, _NUMBER, number, connector)
                while kind in (_ALPHA, _NUMBER):
                    _lower_word(out, kind, word, connector)
                    kind, word, rest = _next_word(rest)
                if kind not in (_INVALID, _CONNECTOR, _PUNCT):
                    out.append(connector)
    _lower_word(out, kind, word, connector)
    return "".join(out)


def snakecase(s: str) -> str:
    return _to_lower_case(s, "_")


def kebabcase(s: str) -> str:
    return _to_lower_case(s, "-")
