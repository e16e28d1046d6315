"""Connection settings: where the server is, how to authenticate, how long to wait.

Resolved once, when a client is built, never at import. For each setting the first that is given
wins: explicit argument > environment variable > config file > default.

=================  =====================  ===================  ==========================
setting            environment            config file key      default
=================  =====================  ===================  ==========================
url                ``COMFYUI_URL``        ``url``              ``http://127.0.0.1:8188``
token (bearer)     ``COMFYUI_TOKEN``      ``token``            none
extra headers      ``COMFYUI_HEADERS``    ``[headers]`` table  none
TLS verification   ``COMFYUI_VERIFY``     ``verify``           true
CA bundle          ``COMFYUI_CA_BUNDLE``  ``ca_bundle``        system / certifi
API call timeout   ``COMFYUI_TIMEOUT``    ``timeout``          30 s (connect and read)
=================  =====================  ===================  ==========================

Basic auth goes in the URL (``https://user:pass@host``). ``COMFYUI_HEADERS`` is a JSON object or
``Name: value`` pairs separated by newlines or ``;``. ``COMFYUI_VERIFY`` accepts ``0/false/no``.
The cap on a JSON answer is ``COMFYUI_MAX_RESPONSE_MB`` (config ``max_response_mb``; 256 MiB).

The config file is TOML: ``$COMFYUI_CONFIG``, else ``$XDG_CONFIG_HOME/comfyctl/config.toml``
(``~/.config/comfyctl/config.toml``). It is read with :mod:`tomllib` (Python 3.11+) or ``tomli``
(its backport, a dependency on Python 3.10). Example::

    url = "https://comfy.example.org"
    token = "..."
    timeout = 60
    [headers]
    X-Team = "render"

Secrets (token, URL password, header values) never appear in ``repr``, :attr:`Settings.url` or
errors: use :meth:`Settings.redact` on any text built from server answers or requests.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from comfyctl.errors import UsageError

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "Settings", "default_config_path"]

DEFAULT_URL = "http://127.0.0.1:8188"
DEFAULT_TIMEOUT = 30.0
#: Largest JSON answer read (a real /object_info with hundreds of custom node packs is ~30 MB).
DEFAULT_MAX_RESPONSE = 256 << 20
_FALSE = {"0", "false", "no", "off"}
_TRUE = {"1", "true", "yes", "on"}


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$COMFYUI_CONFIG``, else ``$XDG_CONFIG_HOME/comfyctl/config.toml``."""
    env = os.environ if env is None else env
    if env.get("COMFYUI_CONFIG"):
        return Path(env["COMFYUI_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "comfyctl" / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to reach one server. Build it with :meth:`resolve`.

    ``base_url`` has no credentials (they live in ``username``/``password``); ``timeout`` bounds
    each API call; ``wait_timeout`` bounds waiting for a generation (None: no limit);
    ``reconnect_timeout`` is how long a job keeps trying to reach a vanished server before it
    gives up with :class:`~comfyctl.errors.ServerUnreachable`; ``retries`` is how many times an
    idempotent request is repeated after a connection error or a 408/429/502/503/504;
    ``max_response_bytes`` caps every JSON answer (:class:`~comfyctl.errors.ResponseTooLarge`).
    """

    base_url: str = DEFAULT_URL
    token: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT
    wait_timeout: float | None = None
    reconnect_timeout: float = 60.0
    retries: int = 2
    config_file: Path | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE

    def __post_init__(self) -> None:
        if self.token and self.password is not None:
            raise UsageError(
                "give either a token or user:password in the URL, not both",
                hint="both would need the Authorization header",
            )
        # HTTP header values are ASCII on the wire (httpx refuses others with UnicodeEncodeError);
        # a line break would smuggle a second header.
        for name, value in [
            ("token", self.token or ""),
            *((f"header {k!r}", v) for k, v in self.headers.items()),
        ]:
            if not _header_safe(value):
                raise UsageError(
                    f"the {name} holds characters HTTP headers cannot carry (non-ASCII or control)",
                    hint="use plain ASCII; percent- or base64-encode other text",
                )
        for key in self.headers:
            if not key or not _header_safe(key) or any(c in key for c in " :"):
                raise UsageError(f"{key!r} is not a valid HTTP header name")

    # -- resolution -------------------------------------------------------------------------------

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | str | None = None,
        timeout: float | None = None,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        """Resolve every setting: argument > environment > config file > default.

        Raises:
            UsageError: a malformed URL, header list, timeout or config file.
        """
        env = os.environ if env is None else env
        cfg, cfg_path = _read_config(config_file, env)

        def pick(arg: Any, env_key: str, cfg_key: str) -> Any:
            if arg is not None:
                return arg
            if env.get(env_key):
                return env[env_key]
            return cfg.get(cfg_key)

        raw_url = pick(url, "COMFYUI_URL", "url") or DEFAULT_URL
        base, user, password = _split_url(str(raw_url))
        raw_headers = pick(headers, "COMFYUI_HEADERS", "headers")
        hdrs = _parse_headers(raw_headers) if raw_headers is not None else {}
        for name in hdrs:
            if name.lower() == "origin":
                # ComfyUI's Origin check answers 403 when Origin differs from Host; never send one.
                raise UsageError("the Origin header cannot be sent: ComfyUI refuses mismatched origins")
        ver = _parse_verify(pick(verify, "COMFYUI_VERIFY", "verify"))
        ca = env.get("COMFYUI_CA_BUNDLE") or cfg.get("ca_bundle")
        if verify is None and ver is True and ca:
            ver = str(ca)
        return cls(
            base_url=base,
            token=pick(token, "COMFYUI_TOKEN", "token") or None,
            username=user,
            password=password,
            headers=hdrs,
            verify=ver,
            timeout=_parse_float(pick(timeout, "COMFYUI_TIMEOUT", "timeout"), DEFAULT_TIMEOUT, "timeout"),
            config_file=cfg_path,
            max_response_bytes=_parse_mb(pick(None, "COMFYUI_MAX_RESPONSE_MB", "max_response_mb")),
        )

    # -- derived values ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL for display: the user name kept, the password shown as ``***``."""
        if self.username is None:
            return self.base_url
        parts = urlsplit(self.base_url)
        cred = quote(self.username, safe="") + (":***" if self.password is not None else "")
        return urlunsplit(parts._replace(netloc=f"{cred}@{parts.netloc}"))

    @property
    def ws_base(self) -> str:
        """``ws://`` / ``wss://`` twin of the base URL."""
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(scheme="wss" if parts.scheme == "https" else "ws"))

    def request_headers(self) -> dict[str, str]:
        """Headers for every HTTP request and the WebSocket handshake (auth included, no Origin)."""
        out = {"User-Agent": "comfyctl", **self.headers}
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        elif self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            out["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return out

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret string, longest first (so redaction never leaves a suffix behind)."""
        found = {s for s in (self.token, self.password) if s}
        auth = self.request_headers().get("Authorization")
        if auth:
            found.add(auth.split(" ", 1)[-1])
        found.update(v for v in self.headers.values() if v and len(v) >= 4)
        if self.password:
            found.add(quote(self.password, safe=""))
        return tuple(sorted(found, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe and redacted: header names only, the token as ``***``."""
        return {
            "url": self.url,
            "token": "***" if self.token else None,
            "headers": sorted(self.headers),
            "verify": self.verify,
            "timeout": self.timeout,
            "wait_timeout": self.wait_timeout,
            "config_file": str(self.config_file) if self.config_file else None,
        }

    def __repr__(self) -> str:
        extra = ", token=***" if self.token else ""
        if self.headers:
            extra += f", headers=[{', '.join(sorted(self.headers))}]"
        return (
            f"Settings(url={self.url!r}{extra}, verify={self.verify!r}, timeout={self.timeout}, "
            f"wait_timeout={self.wait_timeout})"
        )


# -- parsing helpers (pure) ---------------------------------------------------------------------------


def _split_url(raw: str) -> tuple[str, str | None, str | None]:
    """``user:pass@host`` → (URL without credentials, user, password); scheme defaults to http."""
    text = raw.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"not a valid server URL: {_strip_creds(raw)!r}") from exc
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"not a valid server URL: {_strip_creds(raw)!r}",
            hint="use http://host:port or https://host[/prefix]",
        )
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port is not None else "")
    path = parts.path.rstrip("/")
    # Users paste the frontend's ``.../api`` URL; we add ``/api`` to routes ourselves, and
    # ``/internal`` routes exist only at the root, so the suffix belongs to the routes, not the base.
    if path.endswith("/api"):
        path = path[: -len("/api")]
    base = urlunsplit((scheme, netloc, path, "", ""))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return base, user, password


def _strip_creds(raw: str) -> str:
    head, sep, tail = raw.rpartition("@")
    if not sep:
        return raw
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}" if "://" in head else f"***@{tail}"


def _parse_headers(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    text = str(raw).strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError("COMFYUI_HEADERS is not valid JSON") from exc
        return _parse_headers(data)
    out: dict[str, str] = {}
    for item in text.replace(";", "\n").splitlines():
        if not item.strip():
            continue
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError("headers must be 'Name: value' pairs separated by ';' or newlines")
        out[name.strip()] = value.strip()
    return out


def _header_safe(text: str) -> bool:
    return text.isascii() and all(" " <= c <= "~" or c == "\t" for c in text)


def _parse_verify(raw: Any) -> bool | str:
    if raw is None or isinstance(raw, bool):
        return True if raw is None else raw
    text = str(raw).strip()
    if text.lower() in _FALSE:
        return False
    if text.lower() in _TRUE:
        return True
    return text  # a CA bundle path


def _parse_float(raw: Any, default: float, name: str) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if not 0 < value < 1e9:  # NaN/inf overflow socket and clock arithmetic deep inside httpx
        raise UsageError(f"{name} must be a positive number of seconds below 1e9, got {raw!r}")
    return value


def _parse_mb(raw: Any) -> int:
    if raw is None:
        return DEFAULT_MAX_RESPONSE
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < 1e6:
        raise UsageError(f"max_response_mb must be a positive number of MiB, got {raw!r}")
    return int(value * (1 << 20))


def _read_config(explicit: str | Path | None, env: Mapping[str, str]) -> tuple[dict[str, Any], Path | None]:
    path = Path(explicit).expanduser() if explicit is not None else default_config_path(env)
    if not path.is_file():
        if explicit is not None:
            raise UsageError(f"config file not found: {path}")
        return {}, None
    if sys.version_info >= (3, 11):
        import tomllib as toml
    else:  # the backport, a dependency on Python < 3.11 (the file was silently skipped without it)
        import tomli as toml
    try:
        data = toml.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, toml.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from exc
    return data, path
