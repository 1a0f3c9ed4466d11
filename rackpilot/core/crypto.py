"""Encryption of secrets kept in the database (BMC passwords).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``. Keys come from
``FIELD_ENCRYPTION_KEYS``: the first encrypts, every key decrypts, so keys can be rotated.
Earlier versions derived the key from SECRET_KEY; that key still decrypts (last, never
encrypts), so passwords stored then stay readable until they are saved again.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _derived_key(secret_key: str) -> bytes:
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"rackpilot", info=b"field-encryption"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    material = [k.encode() for k in keys] + [_derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in material])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt_secret(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc
