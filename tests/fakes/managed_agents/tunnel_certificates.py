"""The platform's rules for tunnel certificates: a CA it accepts, a server certificate it trusts.

The CA rules are the docs' certificate requirements (one PEM certificate of at most 8 KB, no
private key, CA:TRUE critical, a subject key id, keyCertSign, within validity, RSA >= 2048 or
EC >= P-256, SHA-256 or stronger); the server rules are what the inner TLS handshake checks
(signed directly by a registered CA, an AKI, a SAN for the host, in validity).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.fakes.managed_agents.errors import bad

MAX_PEM_BYTES = 8 * 1024
_WEAK_HASHES = (hashes.MD5, hashes.SHA1, hashes.SHA224)


class TrafficRefused(Exception):
    """What the platform would answer instead of routing a request through a tunnel."""


def fingerprint(certificate: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the certificate's DER encoding, as the API reports it."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def check_ca_pem(pem: str) -> x509.Certificate:
    """The CA certificate in ``pem``, or a 400 naming the first rule it breaks."""
    if len(pem.encode()) > MAX_PEM_BYTES:
        raise bad(f"ca_certificate_pem is {len(pem.encode())} bytes; at most 8 KB are allowed")
    if "PRIVATE KEY" in pem:
        raise bad("ca_certificate_pem must not contain private-key material")
    if pem.count("-----BEGIN CERTIFICATE-----") != 1 or pem.count("-----BEGIN") != 1:
        raise bad("ca_certificate_pem must contain exactly one PEM certificate")
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise bad(f"ca_certificate_pem is not a valid X.509 certificate: {exc}") from exc
    _check_ca(certificate)
    return certificate


def _check_ca(certificate: x509.Certificate) -> None:
    extensions = certificate.extensions
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        raise bad("the CA certificate has no BasicConstraints extension") from None
    if not constraints.value.ca or not constraints.critical:
        raise bad("the CA certificate's BasicConstraints must be CA:TRUE and critical")
    try:
        extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        raise bad("the CA certificate has no SubjectKeyIdentifier extension") from None
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise bad("the CA certificate has no KeyUsage extension") from None
    if not usage.key_cert_sign:
        raise bad("the CA certificate's KeyUsage must include keyCertSign")
    moment = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        raise bad("the CA certificate is not within its validity period")
    _check_key_and_signature(certificate, "CA")


def _check_key_and_signature(certificate: x509.Certificate, what: str) -> None:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise bad(f"the {what} key is RSA {key.key_size}; RSA 2048 or larger is required")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < 256:
            raise bad(f"the {what} key is EC {key.curve.name}; P-256 or larger is required")
    else:
        raise bad(f"the {what} key must be RSA or ECDSA")
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, _WEAK_HASHES):
        raise bad(f"the {what} certificate must be signed with SHA-256 or stronger")


def check_server_certificate(
    server: x509.Certificate, cas: list[x509.Certificate], host: str, moment: datetime
) -> None:
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    # The platform checks what the docs list: signed directly by a registered CA, an AKI
    # matching its SKI, a SAN for the host, serverAuth if an EKU is present, in validity.
    try:
        server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        raise TrafficRefused("the server certificate has no AuthorityKeyIdentifier") from None
    ca_policy = ExtensionPolicy.webpki_defaults_ca()
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.KeyUsage, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(cas))
        .time(moment)
        .max_chain_depth(0)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_server_verifier(x509.DNSName(host))
    )
    try:
        verifier.verify(server, [])
    except VerificationError as exc:
        raise TrafficRefused(f"tls handshake failed: {exc}") from exc
