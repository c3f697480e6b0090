"""`serve --ssl-certfile --ssl-keyfile`: TLS 1.3 at minimum (a TLS 1.2-only client is refused) and HSTS."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import main
from tests.workspaces.helpers import start_cli

pytestmark = pytest.mark.slow
HOST = "127.0.0.1"


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def handshake(port: int, context: ssl.SSLContext) -> str:
    with (
        socket.create_connection((HOST, port), timeout=10) as plain,
        context.wrap_socket(plain, server_hostname=HOST) as tls,
    ):
        return str(tls.version())


async def test_serve_over_tls_13_only_with_hsts(endpoints: main.Endpoints, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    proc = await start_cli("serve", "--host", HOST, "--port", str(port), "--ssl-certfile", str(cert),
                           "--ssl-keyfile", str(key))
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = (await proc.stdout.readline()).decode().strip()
        assert line == f"GraphQL: https://{HOST}:{port}/graphql"

        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_verify_locations(cert)
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError):  # the server hangs up on a TLS 1.2 ClientHello
            await asyncio.to_thread(handshake, port, client)
        client.maximum_version = ssl.TLSVersion.TLSv1_3  # the same client, allowed TLS 1.3: accepted
        assert await asyncio.to_thread(handshake, port, client) == "TLSv1.3"

        modern = ssl.create_default_context(cafile=str(cert))
        assert await asyncio.to_thread(handshake, port, modern) == "TLSv1.3"
        async with httpx.AsyncClient(verify=modern, base_url=f"https://{HOST}:{port}") as client:
            for path in ("/healthz", "/graphql"):
                response = await client.get(path, headers={"Accept": "text/html"})
                assert response.status_code == 200
                assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), timeout=30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_plain_http_has_no_hsts(http: httpx.AsyncClient) -> None:
    assert "strict-transport-security" not in (await http.get("/healthz")).headers
