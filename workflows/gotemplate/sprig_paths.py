"""Sprig's path functions (Go's path and path/filepath on Linux) and urlParse/urlJoin (net/url).

``urlParse`` returns Go's URL fields: ``path`` and ``fragment`` unescaped, ``query`` raw,
``opaque`` for scheme-only URLs such as ``mailto:``; a URL Go cannot parse stops the template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import GoFuncError
from .gotypes import expect_map, from_bytes, to_bytes
from .sprig_lists import reflect_kind

# --- path ---------------------------------------------------------------------------------------


def clean(path: str) -> str:
    """path.Clean: the shortest equivalent path, purely lexically."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def base(path: str) -> str:
    if path == "":
        return "."
    path = path.rstrip("/")
    if path == "":
        return "/"
    return path[path.rfind("/") + 1 :]


def dir_(path: str) -> str:
    return clean(path[: path.rfind("/") + 1])


def ext(path: str) -> str:
    for index in range(len(path) - 1, -1, -1):
        if path[index] == "/":
            break
        if path[index] == ".":
            return path[index:]
    return ""


def is_abs(path: str) -> bool:
    return path.startswith("/")


# --- net/url ------------------------------------------------------------------------------------

_UNRESERVED = re.compile(r"[A-Za-z0-9\-_.~]")
_PATH, _HOST, _USER, _FRAGMENT = "path", "host", "user", "fragment"


def _should_escape(char: int, mode: str) -> bool:
    if chr(char).isascii() and _UNRESERVED.fullmatch(chr(char)):
        return False
    if mode == _HOST and (char >= 0x80 or chr(char) in "!$&'()*+,;=:[]<>\""):
        return False
    if chr(char) in "$&+,/:;=?@":
        if mode == _PATH:
            return chr(char) == "?"
        if mode == _USER:
            return chr(char) in "@/?:"
        if mode == _FRAGMENT:
            return False
    return not (mode == _FRAGMENT and chr(char) in "!()*")


def _escape(text: str, mode: str) -> str:
    return "".join(
        f"%{byte:02X}" if _should_escape(byte, mode) else chr(byte) for byte in to_bytes(text)
    )


def _unescape(text: str, mode: str) -> str:
    data = to_bytes(text)
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x25:
            chunk = data[index + 1 : index + 3]
            if len(chunk) < 2 or not re.fullmatch(rb"[0-9A-Fa-f]{2}", chunk):
                raise GoFuncError(f'invalid URL escape "{from_bytes(data[index : index + 3])}"')
            if mode == _HOST and int(chunk, 16) < 0x80 and chunk != b"25":
                raise GoFuncError(f'invalid URL escape "{from_bytes(data[index : index + 3])}"')
            out.append(int(chunk, 16))
            index += 3
            continue
        if mode == _HOST and byte < 0x80 and _should_escape(byte, _HOST):
            raise GoFuncError(f"invalid character {chr(byte)!r} in host name")
        out.append(byte)
        index += 1
    return from_bytes(bytes(out))


def _scheme(raw: str) -> tuple[str, str]:
    for index, char in enumerate(raw):
        if char.isascii() and char.isalpha():
            continue
        if char.isascii() and (char.isdigit() or char in "+-."):
            if index == 0:
                return "", raw
            continue
        if char == ":":
            if index == 0:
                raise GoFuncError("missing protocol scheme")
            return raw[:index], raw[index + 1 :]
        return "", raw
    return "", raw


def _host(host: str) -> str:
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise GoFuncError("missing ']' in host")
        port = host[close + 1 :]
        if port and not re.fullmatch(r":[0-9]*", port):
            raise GoFuncError(f'invalid port "{port}" after host')
    else:
        colon = host.rfind(":")
        if colon >= 0 and not re.fullmatch(r":[0-9]*", host[colon:]):
            raise GoFuncError(f'invalid port "{host[colon:]}" after host')
    return _unescape(host, _HOST)


def _userinfo_text(user: str, password: str | None) -> str:
    text = _escape(user, _USER)
    if password is not None:
        text += ":" + _escape(password, _USER)
    return text


def _authority(authority: str) -> tuple[str | None, str]:
    at = authority.rfind("@")
    if at < 0:
        return None, _host(authority)
    host = _host(authority[at + 1 :])
    userinfo = authority[:at]
    if not re.fullmatch(r"[A-Za-z0-9\-._:~!$&'()*+,;=%@]*", userinfo):
        raise GoFuncError("net/url: invalid userinfo")
    user, colon, password = userinfo.partition(":")
    return _userinfo_text(
        _unescape(user, _USER), _unescape(password, _USER) if colon else None
    ), host


def _hostname(host: str) -> str:
    if host.startswith("["):
        close = host.find("]")
        return host[1:close] if close >= 0 else host[1:]
    colon = host.rfind(":")
    return host[:colon] if colon >= 0 else host


def url_parse(raw: str) -> dict[str, Any]:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in raw):
        raise GoFuncError("unable to parse url: net/url: invalid control character in URL")
    try:
        return _parse(raw)
    except GoFuncError as error:
        raise GoFuncError(f"unable to parse url: {error}") from None


def _parse(raw: str) -> dict[str, Any]:
    rest, hashmark, fragment = raw.partition("#")
    fields = {"scheme": "", "host": "", "path": "", "query": "", "opaque": "", "fragment": ""}
    user: str | None = None
    if rest == "*":
        fields["path"] = "*"
    elif rest:
        scheme, rest = _scheme(rest)
        fields["scheme"] = scheme.lower()
        if rest.endswith("?") and rest.count("?") == 1:
            rest = rest[:-1]
        else:
            rest, _, fields["query"] = rest.partition("?")
        if not rest.startswith("/") and scheme:
            fields["opaque"] = rest
            rest = ""
        elif not rest.startswith("/") and ":" in rest.split("/", 1)[0]:
            raise GoFuncError("first path segment in URL cannot contain colon")
        if (scheme or not rest.startswith("///")) and rest.startswith("//"):
            authority, slash, remainder = rest[2:].partition("/")
            user, fields["host"] = _authority(authority)
            rest = slash + remainder
        fields["path"] = _unescape(rest, _PATH)
    if hashmark:
        fields["fragment"] = _unescape(fragment, _FRAGMENT)
    result: dict[str, Any] = dict(fields)
    result["hostname"] = _hostname(fields["host"])
    result["userinfo"] = user or ""
    return result


def _dict_string(mapping: Mapping[str, Any], key: str) -> str:
    if key not in mapping:
        return ""
    value = mapping[key]
    if not isinstance(value, str):
        kind = reflect_kind(value)
        raise GoFuncError(f"unable to parse {key} key, must be of type string, but {kind} found")
    return value


def url_join(mapping: object) -> str:
    fields = expect_map(mapping)
    scheme, host, path = (_dict_string(fields, key) for key in ("scheme", "host", "path"))
    query, opaque, fragment = (_dict_string(fields, key) for key in ("query", "opaque", "fragment"))
    userinfo = _dict_string(fields, "userinfo")
    user: str | None = None
    if userinfo:
        try:
            user, _ = _authority(f"{userinfo}@host")
        except GoFuncError as error:
            raise GoFuncError(f"unable to parse userinfo in dict: {error}") from None
    out: list[str] = []
    if scheme:
        out.append(scheme + ":")
    if opaque:
        out.append(opaque)
    else:
        if scheme or host or user is not None:
            if host or path or user is not None:
                out.append("//")
            if user is not None:
                out.append(user + "@")
            if host:
                out.append(_escape(host, _HOST))
        escaped = _escape(path, _PATH)
        if escaped and not escaped.startswith("/") and host:
            out.append("/")
        if not out and ":" in escaped.split("/", 1)[0]:
            out.append("./")
        out.append(escaped)
    if query:
        out.append("?" + query)
    if fragment:
        out.append("#" + _escape(fragment, _FRAGMENT))
    return "".join(out)


PATH_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "base": base,
    "dir": dir_,
    "clean": clean,
    "ext": ext,
    "isAbs": is_abs,
    "osBase": base,
    "osClean": clean,
    "osDir": dir_,
    "osExt": ext,
    "osIsAbs": is_abs,
    "urlParse": url_parse,
    "urlJoin": url_join,
}
