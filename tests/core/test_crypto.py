from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from rackpilot.core.crypto import SecretDecryptionError, decrypt_secret, encrypt_secret


def test_round_trip_and_ciphertext_hides_plaintext():
    token = encrypt_secret("ipmi-pass")
    assert "ipmi-pass" not in token
    assert decrypt_secret(token) == "ipmi-pass"


def test_keys_can_be_rotated(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt_secret("rotate-me")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert decrypt_secret(token) == "rotate-me"
    settings.FIELD_ENCRYPTION_KEYS = [new]
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(token)


def test_empty_secret_stays_empty():
    assert encrypt_secret("") == ""
    assert decrypt_secret("") == ""
