"""Go's regexp (RE2 syntax) on top of Python's re.

Go patterns are translated rather than passed through because the two dialects disagree on
common things: ``$`` is the end of the text in Go but also matches before a final newline in
Python, ``\\d``/``\\s``/``\\w``/``\\b`` are ASCII-only in Go, ``x{,3}`` is literal text in Go,
and Go knows ``[[:alpha:]]``, ``\\Q..\\E``, ``\\z`` and the ungreedy flag ``U``. Constructs
Go refuses (backreferences, lookarounds) raise ``RegexError``. Matching iterates the way
Go's FindAll/ReplaceAll do, which differs from Python's for empty matches.

Unicode classes are supported by general category (``\\pL``, ``\\p{Lu}``) and by script
(``\\p{Greek}``, from ``goscripts``), with the names Go knows.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass, field

from workflows.gotemplate.goscripts import script_ranges

_MAX = sys.maxunicode
_DIGIT = [(0x30, 0x39)]
_SPACE = [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)]
_WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_POSIX = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": _DIGIT,
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": _WORD,
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_WORD_CLASS = "[0-9A-Za-z_]"
_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?!{_WORD_CLASS})|(?<!{_WORD_CLASS})(?={_WORD_CLASS}))"
_NOT_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?={_WORD_CLASS})|(?<!{_WORD_CLASS})(?!{_WORD_CLASS}))"
_SPECIAL = set("\\.+*?()|[]{}^$")


class RegexError(Exception):
    pass


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    start = 0
    for low, high in _normalize(ranges):
        if low > start:
            result.append((start, low - 1))
        start = high + 1
    if start <= _MAX:
        result.append((start, _MAX))
    return result


def _normalize(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


@functools.cache
def _category(name: str) -> tuple[tuple[int, int], ...]:
    if name == "Any":
        return ((0, _MAX),)
    script = script_ranges(name)
    if script is not None:
        return script
    if not re.fullmatch(r"[A-Z][a-z]?", name):
        raise RegexError(f"invalid character class range: \\p{{{name}}}")
    ranges: list[tuple[int, int]] = []
    for code in range(_MAX + 1):
        if unicodedata.category(chr(code)).startswith(name):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    if not ranges:
        raise RegexError(f"invalid character class range: \\p{{{name}}}")
    return tuple(ranges)


def _class_text(ranges: list[tuple[int, int]]) -> str:
    ranges = _normalize(ranges)
    if not ranges:
        return "(?!)"
    parts = []
    for low, high in ranges:
        parts.append(f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}")
    return "[" + "".join(parts) + "]"


@dataclass
class _Flags:
    i: bool = False
    m: bool = False
    s: bool = False
    u: bool = False


@dataclass
class _Translator:
    pattern: str
    pos: int = 0
    out: list[str] = field(default_factory=list)

    def peek(self, count: int = 1) -> str:
        return self.pattern[self.pos : self.pos + count]

    def take(self) -> str:
        if self.pos >= len(self.pattern):
            raise RegexError("trailing backslash at end of expression")
        char = self.pattern[self.pos]
        self.pos += 1
        return char

    def translate(self) -> str:
        self.group(_Flags(), top=True)
        return "".join(self.out)

    # A group's body; returns at its closing parenthesis (consumed by the caller).
    def group(self, flags: _Flags, top: bool = False) -> None:
        closers = 0
        last_was_atom = False
        while self.pos < len(self.pattern):
            char = self.peek()
            if char == ")":
                if top:
                    raise RegexError("unexpected ): " + self.pattern)
                break
            if char == "|":
                self.pos += 1
                self.out.append("|")
                last_was_atom = False
                continue
            if char in "*+?{":
                quantifier = self.quantifier()
                if quantifier is None:
                    self.pos += 1
                    self.out.append("\\{")
                    last_was_atom = True
                    continue
                if not last_was_atom:
                    raise RegexError("missing argument to repetition operator")
                lazy = self.peek() == "?"
                if lazy:
                    self.pos += 1
                if lazy != flags.u:
                    quantifier += "?"
                self.out.append(quantifier)
                if self.peek() in ("*", "+", "?") or self.quantifier(look=True):
                    raise RegexError("invalid nested repetition operator")
                last_was_atom = False
                continue
            last_was_atom = True
            self.pos += 1
            if char == "(":
                inline = self.open_group(flags)
                if inline is not None:
                    closers += inline
                    last_was_atom = False
                continue
            if char == "[":
                self.out.append(self.char_class(flags))
            elif char == "\\":
                self.escape(flags)
            elif char == ".":
                self.out.append("(?s:.)" if flags.s else "[^\\n]")
            elif char == "^":
                self.out.append("(?:(?<=\\n)|\\A)" if flags.m else "\\A")
            elif char == "$":
                self.out.append("(?=\\n|\\Z)" if flags.m else "\\Z")
            else:
                self.out.append(re.escape(char))
        self.out.append(")" * closers)

    def quantifier(self, look: bool = False) -> str | None:
        char = self.peek()
        if char in ("*", "+", "?"):
            if not look:
                self.pos += 1
            return char
        match = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.pattern, self.pos)
        if not match:
            return None
        low = int(match.group(1))
        high = match.group(3)
        if low > 1000 or (high and int(high) > 1000) or (high and int(high) < low):
            raise RegexError(f"invalid repeat count: {match.group(0)}")
        if not look:
            self.pos = match.end()
        return match.group(0)

    def open_group(self, flags: _Flags) -> int | None:
        """Handles what follows "("; returns the closers owed for an inline flag group."""
        if self.peek() != "?":
            self.out.append("(")
            self.body(flags)
            return None
        if self.peek(3) == "?P<":
            end = self.pattern.find(">", self.pos)
            name = self.pattern[self.pos + 3 : end] if end > 0 else ""
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise RegexError(f"invalid named capture: {name}")
            self.pos = end + 1
            self.out.append(f"(?P<{name}>")
            self.body(flags)
            return None
        match = re.compile(r"\?([imsU]*)(?:-([imsU]*))?([:)])").match(self.pattern, self.pos)
        if not match or (match.group(2) is not None and not match.group(2)):
            raise RegexError("invalid or unsupported Perl syntax")
        self.pos = match.end()
        new = _Flags(flags.i, flags.m, flags.s, flags.u)
        for letters, value in ((match.group(1), True), (match.group(2) or "", False)):
            for letter in letters:
                setattr(new, letter.lower(), value)
        case = "(?i:" if new.i and not flags.i else "(?-i:" if flags.i and not new.i else "(?:"
        if match.group(3) == ":":
            self.out.append(case)
            self.body(new)
            return None
        # "(?i)" changes the flags for the rest of the enclosing group.
        flags.i, flags.m, flags.s, flags.u = new.i, new.m, new.s, new.u
        if case != "(?:":
            self.out.append(case)
            return 1
        return 0

    def body(self, flags: _Flags) -> None:
        self.group(_Flags(flags.i, flags.m, flags.s, flags.u))
        if self.peek() != ")":
            raise RegexError("missing closing ): " + self.pattern)
        self.pos += 1
        self.out.append(")")

    def escape(self, flags: _Flags) -> None:
        char = self.take()
        if char == "Q":
            end = self.pattern.find("\\E", self.pos)
            literal = self.pattern[self.pos :] if end < 0 else self.pattern[self.pos : end]
            self.pos = len(self.pattern) if end < 0 else end + 2
            self.out.append(re.escape(literal))
            return
        simple = {
            "A": "\\A",
            "z": "\\Z",
            "b": _BOUNDARY,
            "B": _NOT_BOUNDARY,
        }
        if char in simple:
            self.out.append(simple[char])
            return
        self.out.append(_class_text(self.escape_ranges(char)))

    def escape_ranges(self, char: str) -> list[tuple[int, int]]:
        shorthand = {"d": _DIGIT, "s": _SPACE, "w": _WORD}
        if char.lower() in shorthand:
            ranges = shorthand[char.lower()]
            return _complement(ranges) if char.isupper() else list(ranges)
        if char in "pP":
            if self.peek() == "{":
                end = self.pattern.find("}", self.pos)
                if end < 0:
                    raise RegexError("invalid character class range")
                name = self.pattern[self.pos + 1 : end]
                self.pos = end + 1
            else:
                name = self.take()
            negate = char == "P"
            if name.startswith("^"):
                negate, name = not negate, name[1:]
            ranges = list(_category(name))
            return _complement(ranges) if negate else ranges
        code = self.escape_code(char)
        return [(code, code)]

    def escape_code(self, char: str) -> int:
        controls = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
        if char in controls:
            return controls[char]
        if char in "01234567":
            if char != "0" and not ("0" <= self.peek() <= "7"):
                raise RegexError(f"invalid escape sequence: \\{char}")
            digits = char
            while len(digits) < 3 and "0" <= self.peek() <= "7":
                digits += self.take()
            return int(digits, 8)
        if char == "x":
            if self.peek() == "{":
                end = self.pattern.find("}", self.pos)
                text = self.pattern[self.pos + 1 : end] if end > 0 else ""
                if not re.fullmatch(r"[0-9A-Fa-f]+", text) or int(text, 16) > _MAX:
                    raise RegexError("invalid escape sequence: \\x")
                self.pos = end + 1
                return int(text, 16)
            text = self.pattern[self.pos : self.pos + 2]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", text):
                raise RegexError("invalid escape sequence: \\x")
            self.pos += 2
            return int(text, 16)
        if char.isascii() and not char.isalnum():
            return ord(char)
        raise RegexError(f"invalid escape sequence: \\{char}")

    def char_class(self, flags: _Flags) -> str:
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.pos >= len(self.pattern):
                raise RegexError("missing closing ]")
            char = self.peek()
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            posix = re.compile(r"\[:(\^?)([a-z]+):\]").match(self.pattern, self.pos)
            if posix:
                if posix.group(2) not in _POSIX:
                    raise RegexError("invalid character class range")
                members = _POSIX[posix.group(2)]
                ranges += _complement(members) if posix.group(1) else members
                self.pos = posix.end()
                continue
            low_set = self.class_atom()
            if (
                len(low_set) == 1
                and low_set[0][0] == low_set[0][1]
                and self.peek() == "-"
                and self.peek(2) != "-]"
                and self.pos + 1 < len(self.pattern)
            ):
                self.pos += 1
                high_set = self.class_atom()
                if len(high_set) != 1 or high_set[0][0] != high_set[0][1]:
                    raise RegexError("invalid character class range")
                low, high = low_set[0][0], high_set[0][0]
                if high < low:
                    raise RegexError("invalid character class range")
                ranges.append((low, high))
            else:
                ranges += low_set
        if negate:
            # A negated class matches newlines, in Go as in Python.
            ranges = _complement(ranges)
        return _class_text(ranges)

    def class_atom(self) -> list[tuple[int, int]]:
        char = self.take()
        if char == "\\":
            return self.escape_ranges(self.take())
        return [(ord(char), ord(char))]


@functools.lru_cache(maxsize=512)
def compile_go(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(_Translator(pattern).translate())
    except re.error as error:
        raise RegexError(f"error parsing regexp: {error}") from None


def find_all(regex: re.Pattern[str], text: str, limit: int) -> list[re.Match[str]]:
    """Regexp.FindAll*'s iteration: an empty match right after a match is skipped."""
    if limit < 0:
        limit = len(text) + 1
    found: list[re.Match[str]] = []
    position, previous_end = 0, -1
    while len(found) < limit and position <= len(text):
        match = regex.search(text, position)
        if match is None:
            break
        accept = True
        if match.end() == position:
            if match.start() == previous_end:
                accept = False
            position += 1
        else:
            position = match.end()
        previous_end = match.end()
        if accept:
            found.append(match)
    return found


def expand(template: str, match: re.Match[str]) -> str:
    """Regexp.Expand: $1, ${1}, $name, ${name}; $$ is a dollar; a bad reference is literal."""
    out: list[str] = []
    index = 0
    while index < len(template):
        dollar = template.find("$", index)
        if dollar < 0:
            out.append(template[index:])
            break
        out.append(template[index:dollar])
        rest = template[dollar + 1 :]
        if rest.startswith("$"):
            out.append("$")
            index = dollar + 2
            continue
        ref = re.match(r"\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)", rest)
        if ref is None:
            out.append("$")
            index = dollar + 1
            continue
        name = ref.group(1) or ref.group(2)
        index = dollar + 1 + ref.end()
        try:
            value = match.group(int(name) if name.isdigit() else name)
        except (IndexError, re.error):
            value = None
        out.append(value or "")
    return "".join(out)


def replace_all(regex: re.Pattern[str], text: str, replacement: str, literal: bool) -> str:
    out: list[str] = []
    last_end = 0
    position = 0
    while position <= len(text):
        match = regex.search(text, position)
        if match is None:
            break
        out.append(text[last_end : match.start()])
        if match.end() > last_end or match.start() == 0:
            out.append(replacement if literal else expand(replacement, match))
        last_end = match.end()
        if position + 1 > match.end():
            position += 1
        else:
            position = match.end()
    out.append(text[last_end:])
    return "".join(out)


def split(regex: re.Pattern[str], pattern: str, text: str, limit: int) -> list[str] | None:
    if limit == 0:
        return None
    if pattern and not text:
        return [""]
    parts: list[str] = []
    begin = end = 0
    for match in find_all(regex, text, limit):
        if limit > 0 and len(parts) == limit - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(text[begin:end])
        begin = match.end()
    if end != len(text):
        parts.append(text[begin:])
    return parts


def quote_meta(text: str) -> str:
    return "".join("\\" + char if char in _SPECIAL else char for char in text)
