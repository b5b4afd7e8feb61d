"""API keys, and the rule that a server without one listens on loopback only.

Keys come from ``--api-key`` or the ``api_keys`` setting (``KAPIBARA_API_KEYS``,
comma-separated). A client sends one as ``Authorization: Bearer KEY`` (what every
OpenAI client does with its ``api_key``). Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from kapibara.errors import ConfigError
from kapibara.serve.errors import APIError


def parse_keys(*sources: str | Iterable[str] | None) -> tuple[str, ...]:
    """Keys from comma-separated strings or lists, without blanks or repeats, in order."""
    keys: list[str] = []
    for source in sources:
        items = source.split(",") if isinstance(source, str) else list(source or [])
        keys += [k.strip() for k in items if k.strip()]
    return tuple(dict.fromkeys(keys))


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: tuple[str, ...]) -> None:
    """Refuse to listen beyond this machine with no API key configured."""
    if not keys and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without an API key: anyone who can reach it could use the model",
            hint="pass --api-key KEY (or set KAPIBARA_API_KEYS), or bind --host 127.0.0.1",
        )


def authorize(header: str | None, keys: tuple[str, ...]) -> None:
    """Raise a 401 unless the ``Authorization`` header carries one of ``keys`` (none: open)."""
    if not keys:
        return
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(401, "missing API key: send the header 'Authorization: Bearer YOUR_KEY'",
                       "authentication_error", None, "missing_api_key")
    given = token.strip().encode()
    if not any(hmac.compare_digest(given, key.encode()) for key in keys):
        raise APIError(401, "incorrect API key", "authentication_error", None, "invalid_api_key")
