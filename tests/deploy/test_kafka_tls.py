"""KAFKA_SSL_CAFILE / KAFKA_SSL_CERTFILE / KAFKA_SSL_KEYFILE: the context the services hand to
aiokafka really trusts a private CA and presents a client certificate (mutual TLS).

A TLS server on loopback with a certificate signed by a CA made here stands in for a broker's
listener: the handshake is the part these settings decide, and it is the real ``ssl`` module.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from services.consent.settings import ConsentSettings


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _issue(ca_key, ca_name: x509.Name, subject: str, usage, *, san: bool) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA, a broker certificate for localhost, and a client certificate, as PEM files."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    ca_name = _name("Dongui test CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_crt, _ = _write(root / "ca", ca_key, ca)
    server_crt, server_key = _write(root / "broker", *_issue(ca_key, ca_name, "localhost",
                                                               ExtendedKeyUsageOID.SERVER_AUTH, san=True))
    client_crt, client_key = _write(root / "client", *_issue(ca_key, ca_name, "dongui-consent",
                                                               ExtendedKeyUsageOID.CLIENT_AUTH, san=False))
    return {"ca": ca_crt, "server_crt": server_crt, "server_key": server_key,
            "client_crt": client_crt, "client_key": client_key}


async def _handshake(client_context: ssl.SSLContext, pki: dict[str, Path], *, require_client_cert: bool) -> str:
    """Connect to a loopback TLS server with ``client_context``; return what the server saw."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pki["server_crt"], pki["server_key"])
    if require_client_cert:
        server_context.verify_mode = ssl.CERT_REQUIRED
        server_context.load_verify_locations(pki["ca"])
    seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert")
        if not seen.done():
            seen.set_result(dict(x[0] for x in peer["subject"])["commonName"] if peer else "anonymous")
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_context, server_hostname="localhost"), 5)
        assert await asyncio.wait_for(reader.read(2), 5) == b"ok"
        writer.close()
        return await asyncio.wait_for(seen, 5)
    finally:
        server.close()
        await server.wait_closed()


def _context(monkeypatch: pytest.MonkeyPatch, **env: str) -> ssl.SSLContext:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = ConsentSettings().kafka_client_options()
    assert options["security_protocol"] == "SASL_SSL"
    return options["ssl_context"]


async def test_a_private_ca_is_trusted_only_when_configured(pki, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without KAFKA_SSL_CAFILE the system trust store is used, which does not know this CA.
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(_context(monkeypatch), pki, require_client_cert=False)
    context = _context(monkeypatch, KAFKA_SSL_CAFILE=str(pki["ca"]))
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert await _handshake(context, pki, require_client_cert=False) == "anonymous"


async def test_mutual_tls_presents_the_client_certificate(pki, monkeypatch: pytest.MonkeyPatch) -> None:
    context = _context(monkeypatch, KAFKA_SSL_CAFILE=str(pki["ca"]), KAFKA_SSL_CERTFILE=str(pki["client_crt"]),
                       KAFKA_SSL_KEYFILE=str(pki["client_key"]))
    assert await _handshake(context, pki, require_client_cert=True) == "dongui-consent"


def test_tls_files_are_checked_at_start_up(pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(tmp_path / "missing-ca.crt"))
    with pytest.raises(ValidationError, match="KAFKA_SSL_CAFILE"):
        ConsentSettings()
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(pki["ca"]))
    monkeypatch.setenv("KAFKA_SSL_CERTFILE", str(pki["client_crt"]))
    with pytest.raises(ValidationError, match="go together"):
        ConsentSettings()
