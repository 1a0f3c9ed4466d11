"""Sprig's ``semver`` and ``semverCompare`` (Masterminds/semver v3).

``semver`` returns a *semver.Version whose methods templates call (``.Major``,
``.Prerelease``, ``.Compare``...). Constraints follow semver v3's rules, including its
quirks: a dirty constraint such as ``>1.x`` compares majors only, and a prerelease version
satisfies a constraint only when the constraint itself names a prerelease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from .errors import GoFuncError
from .goregex import compile_go
from .gotypes import Uint64, parse_uint
from .values import go_type_name

_SEMVER = (
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_VERSION_RE = compile_go("^" + _SEMVER + "$")
_CONSTRAINT_RE = compile_go(rf"^\s*({_OPS})\s*({_CV})\s*$")
_RANGE_RE = compile_go(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_FIND_RE = compile_go(rf"({_OPS})\s*({_CV})")
_VALID_RE = compile_go(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$")
_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789")


class SemverError(GoFuncError):
    pass


@dataclass(frozen=True)
class Version:
    """A *semver.Version, as ``semver`` returns it."""

    GO_TYPE: ClassVar[str] = "*semver.Version"
    GO_KIND: ClassVar[str] = "ptr"

    major: int
    minor: int
    patch: int
    pre: str = ""
    metadata: str = ""
    original: str = ""

    def go_string(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + self.pre
        if self.metadata:
            text += "+" + self.metadata
        return text

    def marshal_json(self) -> str:
        return self.go_string()

    def _v_prefix(self) -> str:
        return "v" if self.original.startswith("v") else ""

    def _next(self, **changes: Any) -> Version:
        # The Inc*/Set* methods return a semver.Version value, not a pointer.
        fields = {**self.__dict__, **changes}
        result = VersionValue(**fields)
        return replace(result, original=self._v_prefix() + result.go_string())

    # Methods of semver.Version, as templates call them.
    def String(self) -> str:
        return self.go_string()

    def Original(self) -> str:
        return self.original

    def Major(self) -> Uint64:
        return Uint64(self.major)

    def Minor(self) -> Uint64:
        return Uint64(self.minor)

    def Patch(self) -> Uint64:
        return Uint64(self.patch)

    def Prerelease(self) -> str:
        return self.pre

    def Metadata(self) -> str:
        return self.metadata

    def IncPatch(self) -> Version:
        if self.pre:
            return self._next(pre="", metadata="")
        return self._next(pre="", metadata="", patch=self.patch + 1)

    def IncMinor(self) -> Version:
        return self._next(pre="", metadata="", patch=0, minor=self.minor + 1)

    def IncMajor(self) -> Version:
        return self._next(pre="", metadata="", patch=0, minor=0, major=self.major + 1)

    def SetPrerelease(self, prerelease: str) -> Version:
        if prerelease:
            _validate_prerelease(prerelease)
        return self._next(pre=prerelease)

    def SetMetadata(self, metadata: str) -> Version:
        if metadata:
            _validate_metadata(metadata)
        return self._next(metadata=metadata)

    def Compare(self, other: object) -> int:
        return compare(self, _pointer_arg(other))

    def LessThan(self, other: object) -> bool:
        return self.Compare(other) < 0

    def GreaterThan(self, other: object) -> bool:
        return self.Compare(other) > 0

    def Equal(self, other: object) -> bool:
        return self.Compare(other) == 0


def _pointer_method(self: Version) -> Any:
    raise AttributeError("a method of *semver.Version")


class VersionValue(Version):
    """A semver.Version value (what Inc*/Set* return): Go cannot call the pointer-receiver
    methods on it, since a template's method results are not addressable."""

    GO_TYPE: ClassVar[str] = "semver.Version"
    GO_KIND: ClassVar[str] = "struct"
    Original = property(_pointer_method)  # type: ignore[assignment]
    Compare = property(_pointer_method)  # type: ignore[assignment]
    LessThan = property(_pointer_method)  # type: ignore[assignment]
    GreaterThan = property(_pointer_method)  # type: ignore[assignment]
    Equal = property(_pointer_method)  # type: ignore[assignment]


def _pointer_arg(value: object) -> Version:
    if type(value) is not Version:
        raise GoFuncError(
            f"wrong type for value; expected *semver.Version; got {go_type_name(value)}"
        )
    return value


def _only(text: str, allowed: set[str]) -> bool:
    return all(char in allowed for char in text)


def _validate_prerelease(text: str) -> None:
    for part in text.split("."):
        if _only(part, set("0123456789")):
            if len(part) > 1 and part[0] == "0":
                raise SemverError("Version segment starts with 0")
        elif not _only(part, _ALLOWED):
            raise SemverError("Invalid Prerelease string")


def _validate_metadata(text: str) -> None:
    for part in text.split("."):
        if not _only(part, _ALLOWED):
            raise SemverError("Invalid Metadata string")


def _segment(text: str) -> int:
    try:
        return parse_uint(text.removeprefix("."), 10, 64)
    except ValueError as error:
        raise SemverError(f"Error parsing version segment: {error}") from None


def new_version(text: str) -> Version:
    match = _VERSION_RE.search(text)
    if match is None:
        raise SemverError("Invalid Semantic Version")
    version = Version(
        major=_segment(match.group(1)),
        minor=_segment(match.group(2)) if match.group(2) else 0,
        patch=_segment(match.group(3)) if match.group(3) else 0,
        pre=match.group(5) or "",
        metadata=match.group(8) or "",
        original=text,
    )
    if version.pre:
        _validate_prerelease(version.pre)
    if version.metadata:
        _validate_metadata(version.metadata)
    return version


def _compare_part(a: str, b: str) -> int:
    if a == b:
        return 0
    if a == "":
        return -1
    if b == "":
        return 1
    a_num = a.isdigit() and a.isascii()
    b_num = b.isdigit() and b.isascii()
    if not a_num and not b_num:
        return 1 if a > b else -1
    if not b_num:
        return -1
    if not a_num:
        return 1
    return 1 if int(a) > int(b) else -1


def _compare_prerelease(a: str, b: str) -> int:
    left, right = a.split("."), b.split(".")
    for index in range(max(len(left), len(right))):
        result = _compare_part(
            left[index] if index < len(left) else "", right[index] if index < len(right) else ""
        )
        if result:
            return result
    return 0


def compare(a: Version, b: Version) -> int:
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return -1 if x < y else 1
    if not a.pre and not b.pre:
        return 0
    if not a.pre:
        return 1
    if not b.pre:
        return -1
    return _compare_prerelease(a.pre, b.pre)


@dataclass(frozen=True)
class _Constraint:
    op: str
    version: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool


def _is_x(text: str) -> bool:
    return text in ("x", "X", "*")


def _parse_constraint(text: str) -> _Constraint:
    match = _CONSTRAINT_RE.search(text)
    if match is None:
        raise SemverError(f"improper constraint: {text}")
    major, minor, patch = match.group(3), match.group(4) or "", match.group(5) or ""
    pre = match.group(6) or ""
    dirty = minor_dirty = patch_dirty = False
    version_text = match.group(2)
    if _is_x(major) or not major:
        version_text, dirty = f"0.0.0{pre}", True
    elif _is_x(minor.removeprefix(".")) or not minor:
        version_text, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif _is_x(patch.removeprefix(".")) or not patch:
        version_text, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    try:
        version = new_version(version_text)
    except SemverError:
        raise SemverError("constraint Parser Error") from None
    return _Constraint(match.group(1), version, dirty, minor_dirty, patch_dirty)


def _check(c: _Constraint, v: Version) -> bool:
    con = c.version
    if c.op == "!=":
        if c.dirty:
            if v.pre and not con.pre:
                return False
            if con.major != v.major:
                return True
            if con.minor != v.minor and not c.minor_dirty:
                return True
            if c.minor_dirty:
                return False
            if con.patch != v.patch and not c.patch_dirty:
                return True
            if c.patch_dirty:
                if v.pre or con.pre:
                    return _compare_prerelease(v.pre, con.pre) != 0
                return False
        return compare(v, con) != 0
    if v.pre and not con.pre:
        return False
    if c.op == ">":
        if not c.dirty or (v.major == con.major and not c.minor_dirty and not c.patch_dirty):
            return compare(v, con) == 1
        if v.major != con.major:
            return v.major > con.major
        if c.minor_dirty:
            return False
        return v.minor > con.minor
    if c.op == "<":
        return compare(v, con) < 0
    if c.op in (">=", "=>"):
        return compare(v, con) >= 0
    if c.op in ("<=", "=<"):
        if not c.dirty:
            return compare(v, con) <= 0
        if v.major > con.major:
            return False
        return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)
    if c.op in ("", "=") and not c.dirty:
        return compare(v, con) == 0
    if c.op in ("~", "~>", "", "="):
        if compare(v, con) < 0:
            return False
        if con.major == con.minor == con.patch == 0 and not c.minor_dirty and not c.patch_dirty:
            return True
        if v.major != con.major:
            return False
        return not (v.minor != con.minor and not c.minor_dirty)
    # "^"
    if compare(v, con) < 0:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return con.patch == v.patch


def _rewrite_range(text: str) -> str:
    for match in list(_RANGE_RE.finditer(text)):
        text = text.replace(match.group(0), f">= {match.group(1)}, <= {match.group(11)}", 1)
    return text


def new_constraint(text: str) -> list[list[_Constraint]]:
    alternatives: list[list[_Constraint]] = []
    for part in _rewrite_range(text).split("||"):
        if _VALID_RE.search(part) is None:
            raise SemverError(f"improper constraint: {part}")
        pieces = [match.group(0) for match in _FIND_RE.finditer(part)] or [part]
        alternatives.append([_parse_constraint(piece) for piece in pieces])
    return alternatives


def semver_compare(constraint: str, version: str) -> bool:
    alternatives = new_constraint(constraint)
    parsed = new_version(version)
    return any(all(_check(c, parsed) for c in group) for group in alternatives)


def semver(version: str) -> Version:
    return new_version(version)


SEMVER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "semver": semver,
    "semverCompare": semver_compare,
}
