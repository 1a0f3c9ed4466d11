# ruff: noqa: E501 - the case tables keep each template on one line, as written in Go
"""Generated inputs diffed against Go in batches, and Sprig's random functions by their
properties (a shuffle is a permutation, genCA makes a CA certificate Go accepts...)."""

from __future__ import annotations

import base64
import datetime
import re
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.goracle import Case, Oracle, assert_same, go_oracle, python_result
from workflows.gotemplate import render
from workflows.gotemplate.gounicode import _LOWER, _TITLE, _UPPER

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SMALL = st.integers(min_value=-20, max_value=40)
# ASCII syntax characters plus runes whose case, space or digit rules differ between Go and
# Python (long s, Arabic-Indic one, NBSP, NEL, line separator...).
ALPHABET = st.sampled_from(
    [
        *"abcXYZ019 _-.,:;!?$^*+()[]{}|\\/\"'<>&%=\t\n",
        *["é", "ß", "ǅ", "İ", "Σ", "\u017f", "\u00a0", "\u2028", "\u0085", "😀", "中", "\x01"],
        "\u0661",
    ]
)
TEXT = st.text(alphabet=ALPHABET, max_size=24)
ITEMS = st.lists(st.one_of(TEXT, st.integers(-5, 5), st.none()), max_size=6)

# Each template takes .s/.t (strings), .i/.j (small ints), .a/.b (int64), .l (a list), .f.
TEMPLATES = [
    "{{ upper .s }}|{{ lower .s }}|{{ title .s }}|{{ untitle .s }}|{{ swapcase .s }}",
    "{{ trim .s }}|{{ nospace .s }}|{{ initials .s }}|{{ trunc .i .s }}|{{ abbrev .i .s }}",
    "{{ snakecase .s }}|{{ kebabcase .s }}|{{ camelcase .s }}",
    '{{ wrap .i .s }}|{{ wrapWith .i "|" .s }}|{{ abbrevboth .i .j .s }}',
    '{{ contains .t .s }}|{{ replace .t "X" .s }}|{{ splitList .t .s | toJson }}|{{ split .t .s }}',
    "{{ splitn .t .i .s | toJson }}|{{ trimAll .t .s }}|{{ trimPrefix .t .s }}|{{ indent .j .s }}",
    "{{ b64enc .s }}|{{ b64dec .s }}|{{ b32dec .s }}|{{ b64enc .s | b64dec }}|{{ b32enc .s }}",
    "{{ toJson .l }}|{{ toPrettyJson .l }}|{{ uniq .l }}|{{ sortAlpha .l }}|{{ join .t .l }}",
    "{{ compact .l }}|{{ reverse .l | toRawJson }}|{{ has .s .l }}|{{ without .l .s }}|{{ toStrings .l }}",
    "{{ add .a .b }} {{ sub .a .b }} {{ mul .a .b }} {{ max .a .b .i }} {{ min .a .i }} {{ add1 .a }}",
    "{{ div .a .k }} {{ mod .a .k }} {{ addf .i .f }} {{ subf .f .j }} {{ mulf .f .i }} {{ divf .f .k }}",
    "{{ int64 .s }} {{ float64 .s }} {{ atoi .s }} {{ toDecimal .s }} {{ int .f }} {{ int64 .f }}",
    '{{ regexQuoteMeta .s }}|{{ regexReplaceAllLiteral (regexQuoteMeta .t) .s "Z" }}|{{ regexFindAll "[a-z]+" .s -1 }}',
    '{{ regexSplit "[ ,]+" .s -1 | toJson }}|{{ regexReplaceAll "(\\\\w)(\\\\w)" .s "$2$1" }}|{{ regexMatch .t .s }}',
    "{{ quote .s }}|{{ squote .s }}|{{ sha256sum .s }}|{{ adler32sum .s }}|{{ sha1sum .s }}",
    "{{ round .f .j }} {{ floor .f }} {{ ceil .f }} {{ maxf .f .i }} {{ minf .f .j }} {{ .f }}",
    "{{ fromJson .s | toJson }}|{{ substr .i .j .s }}",
    "{{ seq .i .j }}|{{ until .j | len }}|{{ untilStep .i .j 3 }}|{{ chunk 4 .l | len }}",
    "{{ base .s }}|{{ dir .s }}|{{ clean .s }}|{{ ext .s }}|{{ semverCompare .t .s }}",
]


@st.composite
def cases(draw: st.DrawFn) -> list[Case]:
    batch = []
    for template in TEMPLATES:
        data = {
            "s": draw(TEXT),
            "t": draw(st.one_of(TEXT, st.sampled_from(["", " ", ",", "a", "é"]))),
            "i": draw(SMALL),
            "j": draw(SMALL),
            "a": draw(INT64),
            "b": draw(INT64),
            "k": draw(INT64.filter(lambda value: value != 0)),
            "f": draw(st.floats(allow_nan=False, allow_infinity=False, width=64)),
            "l": draw(ITEMS),
        }
        batch.append(Case(template, data))
    return batch


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    go_oracle()
    return Oracle()


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(cases(), min_size=4, max_size=4))
def test_generated_inputs_render_as_in_go(oracle: Oracle, batch: list[list[Case]]) -> None:
    flat = [case for group in batch for case in group]
    oracle.prefetch(flat)
    for case in flat:
        assert_same(oracle, case)


def test_case_mapping_tables_match_go(oracle: Oracle) -> None:
    # Every rune where the tables override Python, plus a sample across all planes.
    special = sorted({*_UPPER, *_LOWER, *_TITLE})
    sample = [code for code in range(0, sys.maxunicode, 37) if not 0xD800 <= code <= 0xDFFF]
    text = "".join(chr(code) for code in special + sample)
    for template in ("{{ upper .s }}", "{{ lower .s }}", "{{ title .s }}", "{{ trim .s }}"):
        assert_same(oracle, Case(template, {"s": text}))


# --- random by design: properties ----------------------------------------------------------


def test_shuffle_is_a_permutation() -> None:
    text = "héllo wörld 123"
    outputs = {render("{{ shuffle .s }}", {"s": text}) for _ in range(20)}
    assert all(sorted(output) == sorted(text) for output in outputs)
    assert len(outputs) > 1
    assert render('{{ shuffle "" }}', {}) == ""


def test_rand_int_stays_in_range() -> None:
    values = [int(render("{{ randInt -3 4 }}", {})) for _ in range(200)]
    assert set(values) == set(range(-3, 4))


def test_rand_int_refuses_an_empty_range(oracle: Oracle) -> None:
    assert_same(oracle, Case("{{ randInt 5 2 }}"))


@pytest.mark.parametrize(
    ("kind", "key_type", "header"),
    [
        ("ecdsa", ec.EllipticCurvePrivateKey, "EC PRIVATE KEY"),
        ("ed25519", ed25519.Ed25519PrivateKey, "PRIVATE KEY"),
        ("dsa", dsa.DSAPrivateKey, "DSA PRIVATE KEY"),
        ("rsa", rsa.RSAPrivateKey, "RSA PRIVATE KEY"),
    ],
)
def test_gen_private_key_writes_pem_go_reads(
    oracle: Oracle, kind: str, key_type: type, header: str
) -> None:
    pem = render("{{ genPrivateKey .k }}", {"k": kind})
    assert pem.startswith(f"-----BEGIN {header}-----\n")
    assert pem.endswith(f"-----END {header}-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, key_type)
    if kind == "rsa":
        assert key.key_size == 4096  # type: ignore[attr-defined]
    # Go's parsePrivateKeyPEM accepts the key (DSA keys then fail in x509, in both engines).
    assert_same(oracle, Case('{{ (genCAWithKey "x" 1 .k).Cert | len | lt 100 }}', {"k": pem}))


def _load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_gen_ca_makes_a_ca_certificate() -> None:
    cert = render('{{ $ca := genCA "rackpilot-ca" 365 }}{{ $ca.Cert }}', {})
    ca = _load(cert)
    assert ca.subject.rfc4514_string() == "CN=rackpilot-ca"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.digital_signature and usage.key_encipherment
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert abs(lifetime - datetime.timedelta(days=365)) < datetime.timedelta(seconds=5)
    assert 0 < ca.serial_number < 2**128


def test_certificates_cross_between_python_and_go(oracle: Oracle) -> None:
    # A CA made in Python signs in Go; a CA made in Go signs in Python.
    ca = render('{{ $c := genCA "py-ca" 30 }}{{ $c.Cert | b64enc }} {{ $c.Key | b64enc }}', {})
    cert64, key64 = ca.split()
    go_signed = oracle.answer(
        Case(
            '{{ $ca := buildCustomCert .c .k }}{{ (genSignedCert "leaf" (list "10.0.0.1") '
            '(list "leaf.example") 7 $ca).Cert }}',
            {"c": cert64, "k": key64},
        )
    )
    assert go_signed.ok, go_signed.error
    leaf = _load(go_signed.output.decode())
    issuer = _load(base64.b64decode(cert64).decode())
    leaf.verify_directly_issued_by(issuer)

    go_ca = oracle.answer(
        Case('{{ $c := genCA "go-ca" 30 }}{{ $c.Cert | b64enc }} {{ $c.Key | b64enc }}')
    )
    go_cert64, go_key64 = go_ca.output.decode().split()
    python_leaf = render(
        '{{ $ca := buildCustomCert .c .k }}{{ $l := genSignedCert "py-leaf" (list "192.0.2.7" '
        '"::1") (list "a.example" "b.example") 3 $ca }}{{ $l.Cert }}',
        {"c": go_cert64, "k": go_key64},
    )
    cert = _load(python_leaf)
    cert.verify_directly_issued_by(_load(base64.b64decode(go_cert64).decode()))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["a.example", "b.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.7", "::1"]


def test_self_signed_certificates_with_and_without_a_key() -> None:
    cert = _load(render('{{ (genSelfSignedCert "host" nil (list "h.example") 2).Cert }}', {}))
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(cert)
    key = render('{{ genPrivateKey "ecdsa" }}', {})
    pair = render('{{ $c := genSelfSignedCertWithKey "h" nil nil 1 .k }}{{ $c.Key }}', {"k": key})
    assert pair == key
    signed = render(
        '{{ $ca := genCAWithKey "ca" 1 .k }}{{ (genSignedCertWithKey "x" nil nil 1 $ca .k).Key }}',
        {"k": key},
    )
    assert signed == key


def test_aes_round_trips_between_python_and_go(oracle: Oracle) -> None:
    secret = "pässword-that-is-longer-than-thirty-two-bytes"
    for plaintext in ["x", "exactly sixteen!", "héllo wörld " * 5]:
        sealed = render("{{ encryptAES .p .t }}", {"p": secret, "t": plaintext})
        assert re.fullmatch(r"[A-Za-z0-9+/]+=*", sealed)
        opened = oracle.answer(Case("{{ decryptAES .p .c }}", {"p": secret, "c": sealed}))
        assert opened.output.decode() == plaintext
        go_sealed = oracle.answer(Case("{{ encryptAES .p .t }}", {"p": secret, "t": plaintext}))
        back = render("{{ decryptAES .p .c }}", {"p": secret, "c": go_sealed.output.decode()})
        assert back == plaintext


def test_bcrypt_and_htpasswd() -> None:
    bcrypt = pytest.importorskip("bcrypt")
    hashed = render('{{ bcrypt "s3cret" }}', {})
    assert hashed.startswith("$2a$10$")
    assert bcrypt.checkpw(b"s3cret", hashed.encode())
    long = "x" * 100
    assert bcrypt.checkpw(long[:72].encode(), render("{{ bcrypt .p }}", {"p": long}).encode())
    user, _, entry = render('{{ htpasswd "admin" "pw" }}', {}).partition(":")
    assert user == "admin"
    assert bcrypt.checkpw(b"pw", entry.encode())


def test_ago_counts_from_now() -> None:
    import time

    past = int(time.time()) - 3725
    assert re.fullmatch(r"1h2m(5|6|7)s", render("{{ ago (int64 .t) }}", {"t": past}))
    assert render("{{ ago .t }}", {"t": past}).startswith("1h2m")
    assert re.fullmatch(r"\d+y", render('{{ durationRound (toDate "2006" "2000") }}', {}))


def test_generated_batches_are_not_vacuous(oracle: Oracle) -> None:
    # The generated templates mostly render (they would pass vacuously if both refused).
    data = {"s": "a,b c", "t": ",", "i": 3, "j": 5, "a": 7, "b": -2, "k": 3, "f": 1.5, "l": [1]}
    rendered = [python_result(Case(template, data)).ok for template in TEMPLATES]
    assert sum(rendered) >= len(TEMPLATES) - 2
