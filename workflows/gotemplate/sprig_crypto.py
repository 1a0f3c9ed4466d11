"""Sprig's cryptographic functions: keys, certificates, AES, bcrypt and derivePassword.

Keys and certificates come out as PEM in the encodings Go's crypto/x509 writes (PKCS#1 for
RSA, SEC 1 for ECDSA, PKCS#8 for Ed25519, OpenSSL's DSA sequence), with the certificate
fields Sprig fills in: a random 128-bit serial number, only a common name as subject, key
usages for TLS servers and clients, and basic constraints.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import ipaddress
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import GoFuncError
from .gotypes import from_bytes, is_interface_list, to_bytes
from .sprig_encoding import CorruptInputError, b64_decode_bytes
from .values import format_value, go_type_name

try:  # bcrypt is a declared dependency; without it only bcrypt/htpasswd are unavailable.
    import bcrypt as _bcrypt
except ImportError:  # pragma: no cover
    _bcrypt = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Certificate:
    """Sprig's certificate struct: PEM text of a certificate and of its private key."""

    GO_TYPE: ClassVar[str] = "sprig.certificate"
    GO_KIND: ClassVar[str] = "struct"

    Cert: str
    Key: str


# --- hashing --------------------------------------------------------------------------------


def bcrypt(text: str) -> str:
    if _bcrypt is None:
        raise GoFuncError("bcrypt: the bcrypt package is not installed")
    # Go's bcrypt reads at most 72 bytes of the password; Python's refuses longer ones.
    hashed = _bcrypt.hashpw(to_bytes(text)[:72], _bcrypt.gensalt(rounds=10, prefix=b"2a"))
    return hashed.decode("ascii")


def htpasswd(username: str, password: str) -> str:
    if ":" in username:
        return f"invalid username: {username}"
    return f"{username}:{bcrypt(password)}"


_SEED = b"com.lyndir.masterpassword"
_PASSWORD_TEMPLATES = {
    "maximum": ["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
    "long": [
        "CvcvnoCvcvCvcv", "CvcvCvcvnoCvcv", "CvcvCvcvCvcvno", "CvccnoCvcvCvcv", "CvccCvcvnoCvcv",
        "CvccCvcvCvcvno", "CvcvnoCvccCvcv", "CvcvCvccnoCvcv", "CvcvCvccCvcvno", "CvcvnoCvcvCvcc",
        "CvcvCvcvnoCvcc", "CvcvCvcvCvccno", "CvccnoCvccCvcv", "CvccCvccnoCvcv", "CvccCvccCvcvno",
        "CvcvnoCvccCvcc", "CvcvCvccnoCvcc", "CvcvCvccCvccno", "CvccnoCvcvCvcc", "CvccCvcvnoCvcc",
        "CvccCvcvCvccno",
    ],
    "medium": ["CvcnoCvc", "CvcCvcno"],
    "short": ["Cvcn"],
    "basic": ["aaanaaan", "aannaaan", "aaannaaa"],
    "pin": ["nnnn"],
}  # fmt: skip
_TEMPLATE_CHARACTERS = {
    "V": "AEIOU",
    "C": "BCDFGHJKLMNPQRSTVWXYZ",
    "v": "aeiou",
    "c": "bcdfghjklmnpqrstvwxyz",
    "A": "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
    "a": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
    "n": "0123456789",
    "o": "@&%?,=[]_:-+*$#!'^~;()/.",
    "x": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
}


def derive_password(counter: int, password_type: str, password: str, user: str, site: str) -> str:
    """The Master Password algorithm (scrypt, then HMAC-SHA256 picking template characters)."""
    templates = _PASSWORD_TEMPLATES.get(password_type)
    if templates is None:
        return f"cannot find password template {password_type}"
    user_bytes, site_bytes = to_bytes(user), to_bytes(site)
    salt = _SEED + struct.pack(">I", len(user_bytes) % 2**32) + user_bytes
    key = hashlib.scrypt(
        to_bytes(password), salt=salt, n=32768, r=8, p=2, dklen=64, maxmem=64 * 1024 * 1024
    )
    message = _SEED + struct.pack(">I", len(site_bytes) % 2**32) + site_bytes
    message += struct.pack(">I", counter % 2**32)
    seed = hmac.new(key, message, hashlib.sha256).digest()
    template = templates[seed[0] % len(templates)]
    return "".join(
        _TEMPLATE_CHARACTERS[kind][seed[index + 1] % len(_TEMPLATE_CHARACTERS[kind])]
        for index, kind in enumerate(template)
    )


# --- keys ---------------------------------------------------------------------------------------

_PrivateKey = rsa.RSAPrivateKey | dsa.DSAPrivateKey | ec.EllipticCurvePrivateKey
_AnyKey = _PrivateKey | ed25519.Ed25519PrivateKey


def _pem(key: _AnyKey) -> str:
    # Go writes PKCS #1, SEC 1 and DSA keys in OpenSSL's "traditional" encodings; other keys
    # (Ed25519) as PKCS #8.
    encoding = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(
        serialization.Encoding.PEM, encoding, serialization.NoEncryption()
    ).decode("ascii")


def gen_private_key(kind: str) -> str:
    key: _AnyKey
    if kind in ("", "rsa"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    elif kind == "dsa":
        key = dsa.generate_private_key(key_size=2048)
    elif kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        return "Unknown type " + kind
    return _pem(key)


def _pem_block(text: str) -> tuple[str, bytes] | None:
    """encoding/pem.Decode: the first well-formed PEM block in text, if any."""
    lines = text.replace("\r\n", "\n").split("\n")
    for start, line in enumerate(lines):
        if line.startswith("-----BEGIN ") and line.rstrip().endswith("-----"):
            kind = line.rstrip()[len("-----BEGIN ") : -5]
            end_marker = f"-----END {kind}-----"
            for stop in range(start + 1, len(lines)):
                if lines[stop].rstrip() == end_marker:
                    body = "".join(
                        part.strip() for part in lines[start + 1 : stop] if ":" not in part
                    )
                    try:
                        return kind, base64.b64decode(body, validate=True)
                    except (binascii.Error, ValueError):
                        return None
            return None
    return None


def _parse_private_key(text: str) -> _AnyKey:
    block = _pem_block(text)
    if block is None:
        raise GoFuncError("no PEM data in input")
    kind, der = block
    if kind != "PRIVATE KEY" and not kind.endswith(" PRIVATE KEY"):
        raise GoFuncError(f"no private key data in PEM block of type {kind}")
    if kind not in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"):
        raise GoFuncError(f"invalid private key type {kind}")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as error:
        raise GoFuncError(f"parsing {kind}: {error}") from None
    if not isinstance(key, _PrivateKey | ed25519.Ed25519PrivateKey):
        raise GoFuncError(f"unsupported private key in {kind}")
    return key


# --- certificates -------------------------------------------------------------------------------


def _ip_addresses(values: object) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for value in _interface_list(values, "ips"):
        if not isinstance(value, str):
            raise GoFuncError(f"error parsing ip: {format_value(value)} is not a string")
        try:
            if "%" in value:
                raise ValueError(value)
            address = ipaddress.ip_address(value)
        except ValueError:
            raise GoFuncError(f"error parsing ip: {value}") from None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            addresses.append(address.ipv4_mapped)
        else:
            addresses.append(address)
    return addresses


def _dns_names(values: object) -> list[str]:
    names: list[str] = []
    for value in _interface_list(values, "alternateDNS"):
        if not isinstance(value, str):
            raise GoFuncError(
                f"error processing alternate dns name: {format_value(value)} is not a string"
            )
        names.append(value)
    return names


def _interface_list(values: object, name: str) -> list[Any]:
    if values is None:
        return []
    if not is_interface_list(values):
        raise GoFuncError(
            f"wrong type for value; expected []interface {{}}; got {go_type_name(values)}"
        )
    return list(values)  # type: ignore[call-overload]


def _signature_hash(key: _AnyKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return hashes.SHA256()
    raise GoFuncError(
        "error creating certificate: x509: only RSA, ECDSA and Ed25519 keys supported"
    )


def _create(
    cn: str,
    ips: object,
    dns: object,
    days: int,
    key: _AnyKey,
    *,
    is_ca: bool = False,
    issuer: tuple[x509.Certificate, _AnyKey] | None = None,
) -> Certificate:
    addresses, names = _ip_addresses(ips), _dns_names(dns)
    if isinstance(key, dsa.DSAPrivateKey):
        raise GoFuncError(
            "error creating certificate: x509: unsupported public key type: *dsa.PublicKey"
        )
    signer_key = issuer[1] if issuer else key
    algorithm = _signature_hash(signer_key)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .serial_number(secrets.randbelow(2**128) or 1)
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(public_key)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    if issuer is not None:
        try:
            ski = issuer[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier(ski.value.digest, None, None), critical=False
            )
        except x509.ExtensionNotFound:
            pass
    if addresses or names:
        general: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
        general += [x509.IPAddress(address) for address in addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=not cn)
    try:
        certificate = builder.sign(signer_key, algorithm)  # type: ignore[arg-type]
    except (ValueError, TypeError) as error:
        raise GoFuncError(f"error creating certificate: {error}") from None
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return Certificate(Cert=pem, Key=_pem(key))


def _rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_arg(text: str) -> _AnyKey:
    try:
        return _parse_private_key(text)
    except GoFuncError as error:
        raise GoFuncError(f"parsing private key: {error}") from None


def gen_ca(cn: str, days: int) -> Certificate:
    return _create(cn, None, None, days, _rsa_2048(), is_ca=True)


def gen_ca_with_key(cn: str, days: int, key: str) -> Certificate:
    return _create(cn, None, None, days, _key_arg(key), is_ca=True)


def gen_self_signed_cert(cn: str, ips: object, dns: object, days: int) -> Certificate:
    return _create(cn, ips, dns, days, _rsa_2048())


def gen_self_signed_cert_with_key(
    cn: str, ips: object, dns: object, days: int, key: str
) -> Certificate:
    return _create(cn, ips, dns, days, _key_arg(key))


def _signer(ca: object) -> tuple[x509.Certificate, _AnyKey]:
    if not isinstance(ca, Certificate):
        raise GoFuncError(
            f"wrong type for value; expected sprig.certificate; got {go_type_name(ca)}"
        )
    block = _pem_block(ca.Cert)
    if block is None:
        raise GoFuncError("unable to decode certificate")
    try:
        certificate = x509.load_der_x509_certificate(block[1])
    except ValueError as error:
        raise GoFuncError(f"error parsing certificate: decodedSignerCert.Bytes: {error}") from None
    try:
        key = _parse_private_key(ca.Key)
    except GoFuncError as error:
        raise GoFuncError(f"error parsing private key: {error}") from None
    return certificate, key


def gen_signed_cert(cn: str, ips: object, dns: object, days: int, ca: object) -> Certificate:
    signer = _signer(ca)
    return _create(cn, ips, dns, days, _rsa_2048(), issuer=signer)


def gen_signed_cert_with_key(
    cn: str, ips: object, dns: object, days: int, ca: object, key: str
) -> Certificate:
    own_key = _key_arg(key)
    return _create(cn, ips, dns, days, own_key, issuer=_signer(ca))


def build_custom_cert(b64cert: str, b64key: str) -> Certificate:
    try:
        cert = b64_decode_bytes(to_bytes(b64cert))
    except CorruptInputError:
        raise GoFuncError("unable to decode base64 certificate") from None
    try:
        key = b64_decode_bytes(to_bytes(b64key))
    except CorruptInputError:
        raise GoFuncError("unable to decode base64 private key") from None
    block = _pem_block(from_bytes(cert))
    if block is None:
        raise GoFuncError("unable to decode certificate")
    try:
        x509.load_der_x509_certificate(block[1])
    except ValueError as error:
        raise GoFuncError(f"error parsing certificate: decodedCert.Bytes: {error}") from None
    try:
        _parse_private_key(from_bytes(key))
    except GoFuncError as error:
        raise GoFuncError(f"error parsing private key: {error}") from None
    return Certificate(Cert=from_bytes(cert), Key=from_bytes(key))


# --- AES ----------------------------------------------------------------------------------------


def _aes_key(password: str) -> bytes:
    return to_bytes(password)[:32].ljust(32, b"\0")


def encrypt_aes(password: str, plaintext: str) -> str:
    if plaintext == "":
        return ""
    content = to_bytes(plaintext)
    padding = 16 - len(content) % 16
    content += bytes([padding]) * padding
    iv = secrets.token_bytes(16)
    encryptor = Cipher(algorithms.AES(_aes_key(password)), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(content) + encryptor.finalize()
    return base64.b64encode(iv + sealed).decode("ascii")


def decrypt_aes(password: str, crypt64: str) -> str:
    if crypt64 == "":
        return ""
    try:
        crypt = b64_decode_bytes(to_bytes(crypt64))
    except CorruptInputError as error:
        raise GoFuncError(str(error)) from None
    if len(crypt) < 16:
        raise GoFuncError(
            f"runtime error: slice bounds out of range [:16] with capacity {len(crypt)}"
        )
    iv, body = crypt[:16], crypt[16:]
    if len(body) % 16:
        raise GoFuncError("crypto/cipher: input not full blocks")
    decryptor = Cipher(algorithms.AES(_aes_key(password)), modes.CBC(iv)).decryptor()
    plain = decryptor.update(body) + decryptor.finalize()
    if not plain or plain[-1] > len(plain):
        raise GoFuncError("runtime error: slice bounds out of range")
    return from_bytes(plain[: len(plain) - plain[-1]])


CRYPTO_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "bcrypt": bcrypt,
    "htpasswd": htpasswd,
    "genPrivateKey": gen_private_key,
    "derivePassword": derive_password,
    "buildCustomCert": build_custom_cert,
    "genCA": gen_ca,
    "genCAWithKey": gen_ca_with_key,
    "genSelfSignedCert": gen_self_signed_cert,
    "genSelfSignedCertWithKey": gen_self_signed_cert_with_key,
    "genSignedCert": gen_signed_cert,
    "genSignedCertWithKey": gen_signed_cert_with_key,
    "encryptAES": encrypt_aes,
    "decryptAES": decrypt_aes,
}
