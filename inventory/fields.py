"""MAC addresses: accepted in the usual spellings, stored lower-case with colons."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_SEPARATED = re.compile(r"^[0-9a-f]{1,2}([:-])(?:[0-9a-f]{1,2}\1){4}[0-9a-f]{1,2}$")
_CISCO = re.compile(r"^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$")


def normalize_mac(value: str) -> str:
    """``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``, ``aabbccddeeff`` → ``aa:bb:cc:dd:ee:ff``."""
    text = str(value).strip().lower()
    if _SEPARATED.match(text):
        digits = "".join(part.zfill(2) for part in re.split(r"[:-]", text))
    elif _CISCO.match(text):
        digits = text.replace(".", "")
    elif _HEX12.match(text):
        digits = text
    else:
        raise ValidationError(
            "'%(value)s' is not a MAC address (expected six hex pairs, e.g. 52:54:00:12:34:56).",
            code="invalid_mac",
            params={"value": value},
        )
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


class MACAddressField(models.CharField):
    description = "MAC address (normalised to lower-case colon form)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 17)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        return name, path, args, kwargs

    def to_python(self, value: Any) -> Any:
        if value in (None, ""):
            return value
        return normalize_mac(value)
