"""The tunnel's private CA and the proxy's server certificate, made and checked (``cryptography``).

What the docs require (reference#certificate-requirements), reproduced here rather than by
calling ``openssl``: the CA has BasicConstraints CA:TRUE (critical), KeyUsage keyCertSign and
cRLSign (critical) and a SubjectKeyIdentifier; the server certificate is signed directly by it,
carries an AuthorityKeyIdentifier matching that SKI, the SAN ``DNS:<domain>,DNS:*.<domain>`` and
EKU serverAuth. Keys are ECDSA P-256 (allowed by the docs, and what Anthropic's own setup
component uses for its CA): small enough that the whole :class:`Bundle` fits one keyring entry.

The vault holds a :class:`Bundle` as one value: the CA key and certificate, the server key and
certificate, as PEM blocks in that order. One rotation replaces all four (see
``bridge.tunnel.plugin``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from bridge.errors import TunnelError

CA_DAYS = 365
SERVER_DAYS = 90
CA_NAME = "mcp-tunnel-ca"
_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)
_BACKDATE = timedelta(minutes=5)  # clock skew between this host and the verifier
_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True)
class Bundle:
    """A CA and the server certificate it signed, with both private keys (kept out of repr)."""

    ca_key_pem: str = field(repr=False)
    ca_cert_pem: str
    server_key_pem: str = field(repr=False)
    server_cert_pem: str

    def to_value(self) -> str:
        """The one text the vault stores."""
        return self.ca_key_pem + self.ca_cert_pem + self.server_key_pem + self.server_cert_pem

    @classmethod
    def from_value(cls, value: str) -> Bundle:
        """The bundle in a vault value; TunnelError if it is not four PEM blocks."""
        blocks = [match.group(0) for match in _BLOCK.finditer(value)]
        kinds = [match.group(1) for match in _BLOCK.finditer(value)]
        if kinds != ["PRIVATE KEY", "CERTIFICATE", "PRIVATE KEY", "CERTIFICATE"]:
            raise TunnelError(
                "the stored tunnel certificates are not a CA key, CA certificate, server key and "
                "server certificate; rotate them (mcp-vault rotate NAME)"
            )
        return cls(*(block if block.endswith("\n") else block + "\n" for block in blocks))

    @property
    def ca_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca_cert_pem.encode())

    @property
    def server_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.server_cert_pem.encode())

    @property
    def ca_fingerprint(self) -> str:
        return fingerprint(self.ca_certificate)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def new_authority(
    *, days: int = CA_DAYS, now: datetime | None = None, name: str = CA_NAME
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A fresh self-signed CA that satisfies the Tunnels API's certificate rules."""
    start = (now or datetime.now(UTC)) - _BACKDATE
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def issue_server(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_certificate: x509.Certificate,
    names: Sequence[str],
    *,
    ips: Sequence[str] = (),
    days: int = SERVER_DAYS,
    now: datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A server key and certificate for ``names`` (DNS) and ``ips``, signed by the CA."""
    if not names and not ips:
        raise ValueError("a server certificate needs at least one name or address")
    start = (now or datetime.now(UTC)) - _BACKDATE
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = names[0] if names else ips[0]
    alternative: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternative += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    ca_ski = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def generate(
    domain: str,
    *,
    ca_days: int = CA_DAYS,
    server_days: int = SERVER_DAYS,
    ips: Sequence[str] = (),
    now: datetime | None = None,
) -> Bundle:
    """A new CA and a server certificate for ``domain`` and ``*.domain``, as one bundle."""
    ca_key, ca_certificate = new_authority(days=ca_days, now=now)
    server_key, server_certificate = issue_server(
        ca_key, ca_certificate, [domain, f"*.{domain}"], ips=ips, days=server_days, now=now
    )
    return Bundle(
        _key_pem(ca_key),
        _cert_pem(ca_certificate),
        _key_pem(server_key),
        _cert_pem(server_certificate),
    )


def fingerprint(certificate: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the DER encoding (the Tunnels API's ``fingerprint``)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))


def verify_server(
    server: x509.Certificate,
    ca: x509.Certificate,
    hostname: str,
    *,
    at: datetime | None = None,
) -> None:
    """TunnelError unless ``server`` is signed directly by ``ca``, in validity at ``at``, with a
    SAN covering ``hostname`` (the check Anthropic makes at the inner TLS handshake)."""
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.KeyUsage, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .time(at or datetime.now(UTC))
        .max_chain_depth(0)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_server_verifier(x509.DNSName(hostname))
    )
    try:
        verifier.verify(server, [])
    except VerificationError as exc:
        raise TunnelError(
            f"the server certificate does not verify for {hostname} against the tunnel CA: {exc}"
        ) from exc


def expires(certificate: x509.Certificate) -> datetime:
    return certificate.not_valid_after_utc
