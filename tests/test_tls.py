"""recorder.tls: a localhost certificate that Python's ssl verifies, cached and renewed."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from recorder.errors import RtrecError
from recorder.tls import local_certificate


def test_certificate_is_made_once_and_cached(tmp_path: Path) -> None:
    first = local_certificate(tmp_path)
    made = first.cert.read_bytes()
    again = local_certificate(tmp_path)
    assert again.cert.read_bytes() == made
    assert stat.S_IMODE(os.stat(first.key).st_mode) == 0o600
    assert first.node_hint() == f"NODE_EXTRA_CA_CERTS={tmp_path / 'ca.pem'}"


def test_certificate_names_localhost_and_loopback(tmp_path: Path) -> None:
    leaf = x509.load_pem_x509_certificate(local_certificate(tmp_path).cert.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert leaf.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=300)


def test_a_broken_cache_is_made_again(tmp_path: Path) -> None:
    certificate = local_certificate(tmp_path)
    certificate.cert.write_bytes(b"garbage")
    local_certificate(tmp_path)
    x509.load_pem_x509_certificate(certificate.cert.read_bytes())


def test_unwritable_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RtrecError, match="set RTREC_TLS_DIR to a writable directory"):
        local_certificate(blocker / "tls")


async def test_python_ssl_verifies_a_handshake_with_it(tmp_path: Path) -> None:
    certificate = local_certificate(tmp_path)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0,
                                        ssl=certificate.server_context())
    port = server.sockets[0].getsockname()[1]
    try:
        for host in ("localhost", "127.0.0.1"):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=certificate.client_context())
            assert await reader.read() == b"ok"
            writer.close()
        # and an ordinary client that does not trust it refuses, as it should
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("localhost", port, ssl=ssl.create_default_context())
    finally:
        server.close()
        await server.wait_closed()


def test_a_broken_cached_key_is_made_again(tmp_path: Path) -> None:
    certificate = local_certificate(tmp_path)
    certificate.key.write_bytes(
        b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n"
    )
    again = local_certificate(tmp_path)
    assert b"garbage" not in again.key.read_bytes()
    again.server_context()  # loads: no ssl.SSLError


def test_files_still_unusable_after_one_rebuild_are_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate = local_certificate(tmp_path)
    certificate.key.write_bytes(b"garbage")
    monkeypatch.setattr("recorder.tls._make", lambda _certificate: None)  # a rebuild that fails
    with pytest.raises(RtrecError) as raised:
        local_certificate(tmp_path)
    assert str(raised.value) == (
        f"the TLS files in {tmp_path} cannot be used: delete that directory "
        "(rtrec makes new ones) or set RTREC_TLS_DIR to another"
    )
