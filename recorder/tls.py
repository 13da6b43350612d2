"""A certificate for wss://localhost, made once by rtrec and cached.

The official JS SDK always connects with wss://, so `rtrec record --tls` needs a certificate a
local client can trust. rtrec makes a small private CA and a leaf for localhost / 127.0.0.1 /
::1 signed by it (a CA plus a leaf, as mkcert does: OpenSSL, Node and Python all accept it,
while a bare self-signed leaf is refused by some). Node trusts it with
NODE_EXTRA_CA_CERTS=<ca.pem>; Python with ssl.create_default_context(cafile=<ca.pem>).

The files live in $RTREC_TLS_DIR, else $XDG_CACHE_HOME/rtrec/tls, else ~/.cache/rtrec/tls, and are
made again when missing or within a week of expiry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from recorder.errors import RtrecError

LOCAL_NAMES = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")
_VALID_FOR = dt.timedelta(days=825)
_RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class LocalCertificate:
    """The cached files: ca.pem is what clients trust, cert.pem + key.pem is what rtrec serves."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "key.pem"

    def server_context(self) -> ssl.SSLContext:
        """The SSL context `rtrec record --tls` listens with."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this certificate (for Python clients and tests)."""
        return ssl.create_default_context(cafile=str(self.ca))

    def node_hint(self) -> str:
        """How to make Node (the JS SDK) trust the certificate."""
        return f"NODE_EXTRA_CA_CERTS={self.ca}"


def default_directory() -> Path:
    if explicit := os.environ.get("RTREC_TLS_DIR"):
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "rtrec" / "tls"


def local_certificate(directory: Path | None = None) -> LocalCertificate:
    """The cached localhost certificate, made first if missing or about to expire."""
    certificate = LocalCertificate(directory or default_directory())
    if _still_good(certificate):
        return certificate
    try:
        _make(certificate)  # once: files that are still unusable after it are not ours to fix
    except OSError as error:
        raise RtrecError(
            f"cannot write the TLS certificate in {certificate.directory}: "
            f"{error.strerror}; set RTREC_TLS_DIR to a writable directory"
        ) from error
    if not _loads(certificate):
        raise RtrecError(
            f"the TLS files in {certificate.directory} cannot be used: delete that directory "
            "(rtrec makes new ones) or set RTREC_TLS_DIR to another"
        )
    return certificate


def _still_good(certificate: LocalCertificate) -> bool:
    try:
        leaf = x509.load_pem_x509_certificate(certificate.cert.read_bytes())
    except (OSError, ValueError):
        return False
    fresh = leaf.not_valid_after_utc - _RENEW_BEFORE > dt.datetime.now(dt.UTC)
    return fresh and _loads(certificate)


def _loads(certificate: LocalCertificate) -> bool:
    """True when ssl accepts the files as they will be used (a broken key.pem fails here)."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            certificate.cert, certificate.key
        )
        ssl.create_default_context(cafile=str(certificate.ca))
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return False
    return True


def _make(certificate: LocalCertificate) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate small clock skew
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rtrec local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in LOCAL_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in LOCAL_ADDRESSES]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    certificate.directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    _write(certificate.ca, ca_cert.public_bytes(pem), mode=0o644)
    _write(certificate.cert, leaf.public_bytes(pem) + ca_cert.public_bytes(pem), mode=0o644)
    _write(
        certificate.key,
        leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        mode=0o600,
    )
    # The CA key is not kept: nothing else is ever signed with it.


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=cert_sign is False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def _write(path: Path, data: bytes, *, mode: int) -> None:
    """Write atomically with the given mode, so a crash never leaves half a key behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
