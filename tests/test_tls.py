"""TLS verification and CA bundle (issue 3, scope 1), through the public API only.

The sandbox serves https:// + wss:// with the certificates in ``tests/data/tls/`` (see its README):
one signed by a private test CA, one self-signed. Every library test runs for ``Client`` and
``AsyncClient``; nothing here measures time.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from comfyctl import Client, errors
from comfyctl.events import Executing, Progress
from comfyctl.testing import Sandbox
from test_cli_support import assert_error, invoke
from test_client_sandbox import Api, make_client, workflow

TLS = Path(__file__).resolve().parent / "data" / "tls"
CA = TLS / "ca.pem"
SECRET = "tls-test-secret-token"

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


def server_context(name: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(TLS / f"{name}.pem", TLS / f"{name}.key")
    return ctx


@pytest.fixture
def ca_server(tmp_path: Path) -> Iterator[Sandbox]:
    """https/wss with a certificate signed by the private test CA (ca.pem); the token is required
    (``/ws`` too), so the tests also show it travels inside TLS and never leaks into errors."""
    with Sandbox(root=tmp_path / "ca-server", token=SECRET, ssl_context=server_context("server")) as sb:
        yield sb


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[Sandbox]:
    """https/wss with a self-signed certificate no CA vouches for."""
    with Sandbox(root=tmp_path / "self-signed", ssl_context=server_context("selfsigned")) as sb:
        yield sb


async def call(kind: str, url: str, name: str, *args: Any, **client_kw: Any) -> Any:
    """One call on a fresh client of ``kind``, closed afterwards."""
    api = Api(make_client(kind, url, **client_kw))
    try:
        return await api(name, *args)
    finally:
        await api.close()


async def failure(kind: str, url: str, name: str = "system_stats", *args: Any, **client_kw: Any) -> Any:
    """The ComfyError one call raises (fails the test if it succeeds or raises something else)."""
    with pytest.raises(errors.ComfyError) as info:
        await call(kind, url, name, *args, **client_kw)
    return info.value


async def run_job_over_tls(client: Any, sb: Sandbox, tmp_path: Path) -> None:
    """A real job: live events over wss, success, the download byte-identical to view() and disk
    (the client is closed after)."""
    api = Api(client)
    try:
        await _run_job(api, sb, tmp_path)
    finally:
        await api.close()


async def _run_job(api: Api, sb: Sandbox, tmp_path: Path) -> None:
    assert api.client.settings.base_url.startswith("https://")
    stats = await api("system_stats")
    assert stats.comfyui_version == "0.8.0"
    job = await api("submit", workflow(color=37))
    seen = await api.events(job)
    # Executing/Progress come only from the WebSocket (polling yields QueuePosition): wss really worked.
    assert any(isinstance(e, (Executing, Progress)) and e.node for e in seen), seen
    result = await api.on(job, "wait")
    assert result.status == "success" and result.executed == ("1", "2", "3")
    (out,) = result.outputs
    assert out.url.startswith(sb.url + "/")
    (path,) = await api("download_all", result, tmp_path / "dl")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data == await api("view", out.filename, subfolder=out.subfolder)
    assert data == (sb.output_dir / out.subfolder / out.filename).read_bytes()


# -- a private CA named as the bundle ---------------------------------------------------------------


@KINDS
@pytest.mark.parametrize("how", ["argument", "env"])
async def test_ca_bundle_verifies_https_and_wss(
    kind: str, how: str, ca_server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "env":
        monkeypatch.setenv("COMFYUI_CA_BUNDLE", str(CA))
        client = make_client(kind, ca_server.url, token=SECRET)
    else:
        client = make_client(kind, ca_server.url, verify=str(CA), token=SECRET)
    assert client.settings.verify == str(CA)
    await run_job_over_tls(client, ca_server, tmp_path)


@KINDS
async def test_ca_bundle_checks_the_dns_name_too(kind: str, ca_server: Sandbox) -> None:
    # the certificate names 127.0.0.1 (IP SAN) and localhost (DNS SAN); hostname checks stay on
    url = f"https://localhost:{ca_server.port}"
    stats = await call(kind, url, "system_stats", verify=str(CA), token=SECRET)
    assert stats.comfyui_version == "0.8.0"


@KINDS
@pytest.mark.parametrize("call_name", ["system_stats", "submit"])
async def test_default_verification_refuses_a_private_ca(
    kind: str, call_name: str, ca_server: Sandbox
) -> None:
    args = (workflow(),) if call_name == "submit" else ()
    err = await failure(kind, ca_server.url, call_name, *args, token=SECRET)
    assert isinstance(err, errors.ServerUnreachable) and err.exit_code == 3
    assert "certificate" in err.hint and "COMFYUI_CA_BUNDLE" in err.hint
    assert "certificate" in err.message.lower()  # the reason is kept, not a bare "unreachable"
    text = json.dumps(err.to_dict()) + str(err) + repr(err)
    assert SECRET not in text and "Traceback" not in text
    assert not ca_server.history()  # nothing was submitted over the refused connection


@KINDS
async def test_a_self_signed_server_is_refused_by_default_and_by_the_ca(
    kind: str, self_signed_server: Sandbox
) -> None:
    for kw in ({}, {"verify": str(CA)}):
        err = await failure(kind, self_signed_server.url, **kw)
        assert isinstance(err, errors.ServerUnreachable) and "certificate" in err.hint, kw


# -- verification turned off ------------------------------------------------------------------------


@KINDS
@pytest.mark.parametrize("how", ["argument", "env"])
async def test_verify_false_reaches_a_self_signed_server_with_live_events(
    kind: str, how: str, self_signed_server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "env":
        monkeypatch.setenv("COMFYUI_VERIFY", "0")
        client = make_client(kind, self_signed_server.url)
    else:
        client = make_client(kind, self_signed_server.url, verify=False)
    assert client.settings.verify is False
    await run_job_over_tls(client, self_signed_server, tmp_path)


# -- the wrong scheme -------------------------------------------------------------------------------


@KINDS
@pytest.mark.parametrize("call_name", ["system_stats", "submit"])
async def test_https_to_a_plain_http_server_says_so(kind: str, call_name: str, sandbox: Sandbox) -> None:
    url = sandbox.url.replace("http://", "https://", 1)
    args = (workflow(),) if call_name == "submit" else ()
    err = await failure(kind, url, call_name, *args)
    assert isinstance(err, errors.ServerUnreachable) and err.exit_code == 3
    assert "plain HTTP" in err.hint and "http://" in err.hint


@KINDS
async def test_http_to_a_tls_server_is_a_clear_error(kind: str, ca_server: Sandbox) -> None:
    url = ca_server.url.replace("https://", "http://", 1)
    err = await failure(kind, url, token=SECRET)
    # The TLS server drops the plain request unanswered: a TransportError whose hint names https://.
    assert isinstance(err, errors.TransportError) and err.exit_code == 3
    assert "https://" in err.hint
    assert SECRET not in json.dumps(err.to_dict())


# -- a CA bundle that cannot be used ----------------------------------------------------------------


@KINDS
@pytest.mark.parametrize("bundle", ["missing.pem", "README.md"])
@pytest.mark.parametrize("how", ["argument", "env"])
async def test_an_unusable_ca_bundle_is_a_usage_error(
    kind: str, bundle: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(TLS / bundle)  # absent, or a file that holds no certificate
    url = "https://127.0.0.1:1"  # refused before any connection: nothing needs to listen
    if how == "env":
        monkeypatch.setenv("COMFYUI_CA_BUNDLE", path)
        err = await failure(kind, url)
    else:
        err = await failure(kind, url, verify=path)
    assert isinstance(err, errors.UsageError) and err.exit_code == 2
    assert path in err.message


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_status_over_https(ca_server: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMFYUI_TOKEN", SECRET)
    refused = invoke("status", url=ca_server.url)
    assert refused.code == 3, refused
    assert len(refused.error_lines()) == 1 and refused.error_lines()[0].startswith("error: ComfyUI is not")
    assert "Traceback" not in refused.stderr and SECRET not in refused.stderr + refused.stdout
    assert "COMFYUI_CA_BUNDLE" in refused.stderr  # the hint line
    as_json = assert_error(invoke("--json", "status", url=ca_server.url), 3, "unreachable")
    assert "certificate" in as_json["hint"]

    monkeypatch.setenv("COMFYUI_CA_BUNDLE", str(CA))
    ok = invoke("--json", "status", url=ca_server.url)
    assert ok.code == 0, ok
    assert ok.json()["reachable"] is True and ok.json()["url"] == ca_server.url

    monkeypatch.setenv("COMFYUI_CA_BUNDLE", str(TLS / "missing.pem"))
    bad = invoke("status", url=ca_server.url)
    assert bad.code == 2 and len(bad.error_lines()) == 1 and "Traceback" not in bad.stderr


def test_sandbox_default_stays_plain_http(sandbox: Sandbox) -> None:
    assert sandbox.ssl_context is None
    assert sandbox.url == f"http://127.0.0.1:{sandbox.port}"
    assert sandbox.ws_url == f"ws://127.0.0.1:{sandbox.port}/ws"


def test_sandbox_with_tls_serves_wss(ca_server: Sandbox) -> None:
    assert ca_server.url == f"https://127.0.0.1:{ca_server.port}"
    assert ca_server.ws_url == f"wss://127.0.0.1:{ca_server.port}/ws"
    trusting = ssl.create_default_context(cafile=str(CA))
    auth = {"Authorization": f"Bearer {SECRET}"}
    with connect(ca_server.ws_url + "?clientId=me", ssl=trusting, additional_headers=auth) as ws:
        first = json.loads(ws.recv(timeout=10))
    assert first["type"] == "status" and first["data"]["sid"] == "me"


# -- a refused handshake is final -------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["certificate", "scheme"])
def test_a_refused_handshake_is_not_retried(wrong: str, ca_server: Sandbox, sandbox: Sandbox) -> None:
    import httpx

    from comfyctl._http import KeepAliveTransport

    class Counting(KeepAliveTransport):
        calls = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            Counting.calls += 1
            return super().handle_request(request)

    # Untrusted certificate, or TLS spoken to a plain-HTTP port: a retry meets the same answer.
    url = ca_server.url if wrong == "certificate" else sandbox.url.replace("http://", "https://", 1)
    with Client(url, token=SECRET, transport=Counting()) as client, pytest.raises(errors.ServerUnreachable):
        client.queue()  # a GET: retried after connection errors, settings.retries == 2
    assert Counting.calls == 1


def test_retry_decisions_for_transport_errors() -> None:
    import httpx

    from comfyctl._transport import error_retry_delay

    def delay(exc: httpx.HTTPError, idempotent: bool = True) -> float | None:
        return error_retry_delay(exc, 0, last=False, idempotent=idempotent)

    assert delay(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] self-signed certificate")) is None
    assert delay(httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")) is None
    assert delay(httpx.ConnectError("[Errno 111] Connection refused"), idempotent=False) is not None
    assert delay(httpx.ReadError("reset"), idempotent=True) is not None
    assert delay(httpx.ReadError("reset"), idempotent=False) is None  # may have reached the server
    assert delay(httpx.ReadTimeout("slow"), idempotent=True) is None  # no second load on a slow server
