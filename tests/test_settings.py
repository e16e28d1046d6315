"""Settings resolution (argument > environment > config file > default) and secret redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyctl.errors import UsageError
from comfyctl.settings import DEFAULT_URL, Settings


def test_defaults_when_nothing_is_set() -> None:
    s = Settings.resolve(env={})
    assert s.base_url == DEFAULT_URL
    assert s.timeout == 30.0 and s.wait_timeout is None and s.verify is True
    assert s.token is None and s.request_headers().get("Authorization") is None


def test_argument_beats_environment_beats_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('url = "http://cfg:1"\ntoken = "cfgtok"\ntimeout = 5\n[headers]\nX-A = "from-config"\n')
    env = {"COMFYUI_URL": "http://env:2", "COMFYUI_CONFIG": str(cfg)}
    s = Settings.resolve(env=env)
    assert s.base_url == "http://env:2"  # env over config
    assert s.token == "cfgtok" and s.timeout == 5.0 and s.headers == {"X-A": "from-config"}
    assert s.config_file == cfg
    s2 = Settings.resolve("http://arg:3", token="argtok", timeout=7, env=env | {"COMFYUI_TOKEN": "envtok"})
    assert (s2.base_url, s2.token, s2.timeout) == ("http://arg:3", "argtok", 7.0)
    assert Settings.resolve(env=env | {"COMFYUI_TOKEN": "envtok"}).token == "envtok"


def test_default_config_file_under_xdg(tmp_path: Path) -> None:
    path = tmp_path / "comfyctl" / "config.toml"
    path.parent.mkdir()
    path.write_text('url = "https://comfy.example.org/prefix/"\n')
    s = Settings.resolve(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert s.base_url == "https://comfy.example.org/prefix"
    assert s.ws_base == "wss://comfy.example.org/prefix"


def test_bad_config_and_missing_explicit_config_are_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("url = [unclosed\n")
    with pytest.raises(UsageError):
        Settings.resolve(config_file=bad, env={})
    with pytest.raises(UsageError):
        Settings.resolve(config_file=tmp_path / "missing.toml", env={})


def test_basic_auth_in_url_is_split_and_redacted() -> None:
    s = Settings.resolve("https://alice:s3cr%40t@host:8443/x", env={})
    assert s.base_url == "https://host:8443/x"
    assert (s.username, s.password) == ("alice", "s3cr@t")
    assert s.url == "https://alice:***@host:8443/x"
    assert s.request_headers()["Authorization"].startswith("Basic ")
    for text in (repr(s), s.url, str(s)):
        assert "s3cr" not in text
    assert s.redact("boom s3cr@t and s3cr%40t " + s.request_headers()["Authorization"]).count("***") == 3


def test_bearer_token_never_in_repr_and_redacted() -> None:
    s = Settings.resolve("127.0.0.1:9000", token="tok-123456", headers={"X-Key": "hdr-secret"}, env={})
    assert s.base_url == "http://127.0.0.1:9000"
    assert s.request_headers()["Authorization"] == "Bearer tok-123456"
    assert "tok-123456" not in repr(s) and "hdr-secret" not in repr(s)
    assert s.redact("x tok-123456 y hdr-secret") == "x *** y ***"
    dumped = json.dumps(s.to_dict())
    assert "tok-123456" not in dumped and "hdr-secret" not in dumped and "X-Key" in dumped


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('{"A": "1", "B": "2"}', {"A": "1", "B": "2"}), ("A: 1; B: two words", {"A": "1", "B": "two words"})],
)
def test_headers_from_environment(raw: str, expected: dict[str, str]) -> None:
    assert dict(Settings.resolve(env={"COMFYUI_HEADERS": raw}).headers) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "ftp://host"},
        {"url": "http://host:notaport"},
        {"timeout": "soon"},
        {"timeout": -1},
        {"headers": {"Origin": "http://x"}},
        {"url": "http://u:p@h", "token": "t"},
        {"token": "jeton-sécret"},  # non-ASCII: httpx would raise UnicodeEncodeError per request
        {"headers": {"X-Team": "équipe"}},
        {"headers": {"X-A": "v\r\nX-Injected: 1"}},
        {"headers": {"Bad Name": "v"}},
        {"headers": "X-Team: équipe"},
    ],
)
def test_bad_settings_are_usage_errors_without_secrets(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError) as info:
        Settings.resolve(env={}, **kwargs)  # type: ignore[arg-type]
    assert ":p@" not in str(info.value)


def test_tls_verify_and_ca_bundle() -> None:
    assert Settings.resolve(env={"COMFYUI_VERIFY": "false"}).verify is False
    assert Settings.resolve(env={"COMFYUI_CA_BUNDLE": "/ca.pem"}).verify == "/ca.pem"
    assert Settings.resolve(verify=True, env={"COMFYUI_CA_BUNDLE": "/ca.pem"}).verify is True
    assert Settings.resolve(verify="/mine.pem", env={}).verify == "/mine.pem"


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("http://127.0.0.1:8188/api", "http://127.0.0.1:8188"),
        ("http://127.0.0.1:8188/api/", "http://127.0.0.1:8188"),
        ("127.0.0.1:8188/api", "http://127.0.0.1:8188"),
        ("https://host/comfy/api/", "https://host/comfy"),
        ("https://host/apis", "https://host/apis"),
    ],
)
def test_api_suffix_pasted_from_the_frontend_is_not_doubled(raw: str, base: str) -> None:
    # the client adds /api to every route itself: keeping the suffix gave /api/api/... → 404
    assert Settings.resolve(raw, env={}).base_url == base


def test_non_ascii_token_from_the_environment_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        Settings.resolve(env={"COMFYUI_TOKEN": "tök"})
    assert "tök" not in str(info.value) and "token" in str(info.value)


@pytest.mark.parametrize("raw", ["nan", "inf", float("inf"), "1e309", 0, "-1"])
def test_non_finite_or_non_positive_timeouts_are_usage_errors(raw: object) -> None:
    # NaN/inf used to pass and blow up inside httpx/time (OverflowError, ValueError): exit 1
    with pytest.raises(UsageError):
        Settings.resolve(timeout=raw, env={})  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Settings.resolve(env={"COMFYUI_TIMEOUT": str(raw)})


def test_config_file_read_on_python_310_through_tomli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.10 has no tomllib: the config file is read with tomli, never skipped."""
    import sys
    from importlib.metadata import requires

    # tomli is a dependency exactly where tomllib is missing
    assert any(
        r.split(";")[0].strip().startswith("tomli") and 'python_version < "3.11"' in r.replace("'", '"')
        for r in requires("comfyctl") or ()
    )
    path = tmp_path / "comfyctl" / "config.toml"
    path.parent.mkdir()
    path.write_text('url = "http://from-config:1"\n')
    monkeypatch.setattr(sys, "version_info", (3, 10, 14, "final", 0))
    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` raises, as on 3.10
    s = Settings.resolve(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert (s.base_url, s.config_file) == ("http://from-config:1", path)
