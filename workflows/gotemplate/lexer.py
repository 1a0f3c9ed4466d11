"""Tokenizer for Go text/template sources.

The token stream follows Go's ``text/template/parse`` lexer: text runs, ``{{``/``}}`` delimiters
with ``{{- `` / `` -}}`` trim markers, comments, and the items inside actions. A lexical error
ends the stream with an ERROR token; the parser raises it only when it reaches that token, so
an earlier syntax error is still reported first, as Go does.
"""

from __future__ import annotations

from typing import NamedTuple

from .printf import go_quote

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
TRIM_MARKER = "-"
SPACE_CHARS = " \t\r\n"
# Characters after which a word inside an action is complete (Go's atTerminator).
TERMINATORS = SPACE_CHARS + ".,|:)("

KEYWORDS = frozenset(
    {"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"}
)


class Kind:
    """Token kinds. Plain strings keep comparisons cheap and error messages readable."""

    EOF = "EOF"
    ERROR = "ERROR"
    TEXT = "TEXT"
    LEFT_DELIM = "LEFT_DELIM"
    RIGHT_DELIM = "RIGHT_DELIM"
    SPACE = "SPACE"
    FIELD = "FIELD"
    VARIABLE = "VARIABLE"
    IDENTIFIER = "IDENTIFIER"
    KEYWORD = "KEYWORD"
    BOOL = "BOOL"
    NIL = "NIL"
    DOT = "DOT"
    NUMBER = "NUMBER"
    CHAR_CONSTANT = "CHAR_CONSTANT"
    STRING = "STRING"
    RAW_STRING = "RAW_STRING"
    PIPE = "PIPE"
    DECLARE = "DECLARE"
    ASSIGN = "ASSIGN"
    LEFT_PAREN = "LEFT_PAREN"
    RIGHT_PAREN = "RIGHT_PAREN"
    CHAR = "CHAR"


class Token(NamedTuple):
    kind: str
    value: str
    pos: int

    def describe(self) -> str:
        """The token as Go prints it in "unexpected X in Y" messages."""
        if self.kind == Kind.EOF:
            return "EOF"
        if self.kind == Kind.ERROR:
            return self.value
        if self.kind in (Kind.KEYWORD, Kind.DOT, Kind.NIL):
            return f"<{self.value}>"
        if len(self.value) > 10:
            return go_quote(self.value[:10]) + "..."
        return go_quote(self.value)


def is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


def rune_description(char: str) -> str:
    """Go's ``%#U`` rendering of a character, used in "bad character" messages."""
    code = f"U+{ord(char):04X}"
    return f"{code} '{char}'" if char.isprintable() else code


def lex(source: str) -> list[Token]:
    return _Lexer(source).run()


class _LexError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.end = len(source)
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        try:
            self._lex_text_and_actions()
        except _LexError as error:
            self.tokens.append(Token(Kind.ERROR, error.message, error.pos))
        return self.tokens

    def _emit(self, kind: str, value: str, pos: int) -> None:
        self.tokens.append(Token(kind, value, pos))

    def _lex_text_and_actions(self) -> None:
        src = self.src
        pos = 0
        while True:
            start = src.find(LEFT_DELIM, pos)
            if start < 0:
                if pos < self.end:
                    self._emit(Kind.TEXT, src[pos:], pos)
                self._emit(Kind.EOF, "", self.end)
                return
            inner = start + len(LEFT_DELIM)
            trim_left = self._has_left_trim_marker(inner)
            text_end = start
            if trim_left:
                text_end = pos + len(src[pos:start].rstrip(SPACE_CHARS))
            if text_end > pos:
                self._emit(Kind.TEXT, src[pos:text_end], pos)
            if trim_left:
                inner += 2
            if src.startswith("/*", inner):
                pos = self._lex_comment(start, inner)
                continue
            self._emit(Kind.LEFT_DELIM, LEFT_DELIM, start)
            pos = self._lex_action(inner, start)

    def _has_left_trim_marker(self, pos: int) -> bool:
        # "{{-3}}" is the number -3: the dash only trims when whitespace follows it.
        return (
            pos + 1 < self.end and self.src[pos] == TRIM_MARKER and self.src[pos + 1] in SPACE_CHARS
        )

    def _at_right_delim(self, pos: int) -> tuple[bool, bool]:
        """Whether ``pos`` starts a closing delimiter, and whether it carries a trim marker."""
        src = self.src
        if (
            pos + 1 < self.end
            and src[pos] in SPACE_CHARS
            and src[pos + 1] == TRIM_MARKER
            and src.startswith(RIGHT_DELIM, pos + 2)
        ):
            return True, True
        return src.startswith(RIGHT_DELIM, pos), False

    def _skip_spaces(self, pos: int) -> int:
        while pos < self.end and self.src[pos] in SPACE_CHARS:
            pos += 1
        return pos

    def _lex_comment(self, start: int, inner: int) -> int:
        close = self.src.find("*/", inner + 2)
        if close < 0:
            raise _LexError("unclosed comment", start)
        pos = close + 2
        delim, trim = self._at_right_delim(pos)
        if not delim:
            raise _LexError("comment ends before closing delimiter", start)
        pos += len(RIGHT_DELIM) + (2 if trim else 0)
        return self._skip_spaces(pos) if trim else pos

    def _lex_action(self, pos: int, action_start: int) -> int:
        src = self.src
        paren_depth = 0
        while True:
            delim, trim = self._at_right_delim(pos)
            if delim:
                if paren_depth:
                    raise _LexError("unclosed left paren", pos)
                if trim:
                    pos += 2
                self._emit(Kind.RIGHT_DELIM, RIGHT_DELIM, pos)
                pos += len(RIGHT_DELIM)
                return self._skip_spaces(pos) if trim else pos
            if pos >= self.end:
                raise _LexError("unclosed action", action_start)
            char = src[pos]
            if char in SPACE_CHARS:
                pos = self._lex_space(pos)
            elif char == "=":
                self._emit(Kind.ASSIGN, char, pos)
                pos += 1
            elif char == ":":
                if not src.startswith(":=", pos):
                    raise _LexError("expected :=", pos)
                self._emit(Kind.DECLARE, ":=", pos)
                pos += 2
            elif char == "|":
                self._emit(Kind.PIPE, char, pos)
                pos += 1
            elif char == '"':
                pos = self._lex_quoted(pos, '"', Kind.STRING, "unterminated quoted string")
            elif char == "'":
                pos = self._lex_quoted(
                    pos, "'", Kind.CHAR_CONSTANT, "unterminated character constant"
                )
            elif char == "`":
                close = src.find("`", pos + 1)
                if close < 0:
                    raise _LexError("unterminated raw quoted string", pos)
                self._emit(Kind.RAW_STRING, src[pos : close + 1], pos)
                pos = close + 1
            elif char == "$":
                pos = self._lex_field_or_variable(pos, Kind.VARIABLE)
            elif char == ".":
                if pos + 1 < self.end and "0" <= src[pos + 1] <= "9":
                    pos = self._lex_number(pos)
                else:
                    pos = self._lex_field_or_variable(pos, Kind.FIELD)
            elif char in "+-" or "0" <= char <= "9":
                pos = self._lex_number(pos)
            elif is_alphanumeric(char):
                pos = self._lex_identifier(pos)
            elif char == "(":
                paren_depth += 1
                self._emit(Kind.LEFT_PAREN, char, pos)
                pos += 1
            elif char == ")":
                paren_depth -= 1
                if paren_depth < 0:
                    raise _LexError("unexpected right paren", pos)
                self._emit(Kind.RIGHT_PAREN, char, pos)
                pos += 1
            elif char.isascii() and char.isprintable():
                self._emit(Kind.CHAR, char, pos)
                pos += 1
            else:
                raise _LexError(f"unrecognized character in action: {rune_description(char)}", pos)

    def _lex_space(self, pos: int) -> int:
        end = self._skip_spaces(pos)
        # The last space may belong to a " -}}" closing delimiter; leave it for that.
        if self.src.startswith(TRIM_MARKER + RIGHT_DELIM, end):
            end -= 1
            if end == pos:
                return pos
        self._emit(Kind.SPACE, self.src[pos:end], pos)
        return end

    def _at_terminator(self, pos: int) -> bool:
        return (
            pos >= self.end or self.src[pos] in TERMINATORS or self.src.startswith(RIGHT_DELIM, pos)
        )

    def _lex_quoted(self, pos: int, quote: str, kind: str, unterminated: str) -> int:
        src = self.src
        cursor = pos + 1
        while True:
            if cursor >= self.end or src[cursor] == "\n":
                raise _LexError(unterminated, pos)
            char = src[cursor]
            if char == "\\":
                cursor += 1
                if cursor >= self.end or src[cursor] == "\n":
                    raise _LexError(unterminated, pos)
            elif char == quote:
                break
            cursor += 1
        self._emit(kind, src[pos : cursor + 1], pos)
        return cursor + 1

    def _lex_field_or_variable(self, pos: int, kind: str) -> int:
        cursor = pos + 1
        if self._at_terminator(cursor):
            # A lone "." is dot, a lone "$" is the root variable.
            self._emit(Kind.DOT if kind == Kind.FIELD else Kind.VARIABLE, self.src[pos], pos)
            return cursor
        while cursor < self.end and is_alphanumeric(self.src[cursor]):
            cursor += 1
        if not self._at_terminator(cursor):
            raise _LexError(f"bad character {rune_description(self.src[cursor])}", cursor)
        self._emit(kind, self.src[pos:cursor], pos)
        return cursor

    def _lex_identifier(self, pos: int) -> int:
        cursor = pos
        while cursor < self.end and is_alphanumeric(self.src[cursor]):
            cursor += 1
        if not self._at_terminator(cursor):
            raise _LexError(f"bad character {rune_description(self.src[cursor])}", cursor)
        word = self.src[pos:cursor]
        if word in KEYWORDS:
            kind = Kind.KEYWORD
        elif word == "nil":
            kind = Kind.NIL
        elif word in ("true", "false"):
            kind = Kind.BOOL
        else:
            kind = Kind.IDENTIFIER
        self._emit(kind, word, pos)
        return cursor

    def _accept_run(self, pos: int, chars: str) -> int:
        while pos < self.end and self.src[pos] in chars:
            pos += 1
        return pos

    def _scan_number(self, pos: int) -> tuple[int, bool]:
        """Go's scanNumber: returns the end offset and whether the syntax looked valid."""
        src = self.src
        cursor = pos + 1 if src[pos] in "+-" else pos
        decimal = "0123456789_"
        hexadecimal = "0123456789abcdefABCDEF_"
        digits = decimal
        if cursor < self.end and src[cursor] == "0":
            cursor += 1
            prefix = src[cursor : cursor + 1]
            if prefix and prefix in "xX":
                digits, cursor = hexadecimal, cursor + 1
            elif prefix and prefix in "oO":
                digits, cursor = "01234567_", cursor + 1
            elif prefix and prefix in "bB":
                digits, cursor = "01_", cursor + 1
        cursor = self._accept_run(cursor, digits)
        if cursor < self.end and src[cursor] == ".":
            cursor = self._accept_run(cursor + 1, digits)
        exponent = "eE" if digits == decimal else "pP" if digits == hexadecimal else ""
        if exponent and cursor < self.end and src[cursor] in exponent:
            cursor += 1
            if cursor < self.end and src[cursor] in "+-":
                cursor += 1
            cursor = self._accept_run(cursor, decimal)
        if cursor < self.end and src[cursor] == "i":
            cursor += 1
        if cursor < self.end and is_alphanumeric(src[cursor]):
            return cursor + 1, False
        return cursor, True

    def _lex_number(self, pos: int) -> int:
        end, ok = self._scan_number(pos)
        if ok and end < self.end and self.src[end] in "+-":
            # Go lexes "1+2i" as one complex constant; anything else after a sign is bad.
            end, ok = self._scan_number(end)
            ok = ok and self.src[end - 1] == "i"
        if not ok:
            raise _LexError(f"bad number syntax: {go_quote(self.src[pos:end])}", pos)
        self._emit(Kind.NUMBER, self.src[pos:end], pos)
        return end
