"""The API key: checked before it is used, sent only where it is safe, never shown.

A key pasted with a trailing newline or a space would make every request fail in a
way that says nothing useful (or, worse, end in a header-injection error that quotes
it); it is refused up front, and the message says what is wrong without quoting it.
A key sent over plain ``http://`` crosses the network readable by anyone on the way:
that is refused for any host that is not this machine, unless the user says
``--allow-insecure-http`` (a test server on the LAN, a TLS-terminating proxy).

>>> check_base_url("http://127.0.0.1:8765/v2", allow_insecure_http=False)
'http://127.0.0.1:8765/v2'
>>> is_loopback("localhost"), is_loopback("::1"), is_loopback("10.0.0.1")
(True, True, False)
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from bulkupdate.errors import UsageError

MAX_KEY_LENGTH = 1024  # Telnyx keys are under 100 characters
REDACTED = "[redacted]"
# Text shaped like a Telnyx v2 API key ("KEY" and a long base62 tail) or a bearer header,
# wherever it turns up: a resume command built from argv, a key pasted into the input.
KEY_SHAPED = re.compile(r"\bKEY[0-9A-Za-z_-]{16,}|\b[Bb]earer\s+\S+")


def check_api_key(key: str, *, source: str = "TELNYX_API_KEY") -> str:
    """``key`` if it can be an API key; else ``UsageError`` naming ``source``, not the key."""
    if not key:
        raise UsageError(f"no API key: set {source}")
    if len(key) > MAX_KEY_LENGTH:
        raise UsageError(
            f"{source} is {len(key):,} characters long, far more than an API key; "
            "copy the key again"
        )
    for position, char in enumerate(key, 1):
        if not ("!" <= char <= "~"):  # visible ASCII: what an API key is made of
            raise UsageError(
                f"{source} holds {_what(char)} at character {position} of {len(key)}; "
                "an API key is the key alone: copy it again (the key is not shown)"
            )
    return key


def check_base_url(url: str, *, allow_insecure_http: bool, flag: str = "--base-url") -> str:
    """``url`` if it is a usable API base URL that keeps the key private; else ``UsageError``.

    Plain ``http://`` is accepted for loopback hosts (127.0.0.0/8, ::1, localhost) and,
    with ``allow_insecure_http``, for any host.
    """
    if not url.isprintable() or " " in url:
        raise UsageError(f"{flag} {url!r} holds spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{flag} {url!r} must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{flag} must not hold a user name or password; the API key goes in TELNYX_API_KEY"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"{flag} {url!r} must not have a query or a fragment")
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise UsageError(f"{flag} {url!r} has a port that is not a number") from None
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(host):
        raise UsageError(
            f"{flag} {url}: plain http to {host} would send the API key unencrypted; use "
            "https, or add --allow-insecure-http if this network is trusted"
        )
    return url


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: localhost, 127.0.0.0/8 or ::1 (also v4-mapped)."""
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False  # a name other than localhost could resolve anywhere
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def without_key(text: str, key: str | None) -> str:
    """``text`` with every occurrence of ``key`` replaced by ``[redacted]``."""
    if key and len(key) >= 4 and key in text:
        return text.replace(key, REDACTED)
    return text


def without_keys(text: str) -> str:
    """``text`` with anything shaped like an API key or a bearer header redacted."""
    return KEY_SHAPED.sub(REDACTED, text) if "KEY" in text or "earer" in text else text


def _what(char: str) -> str:
    if char == " ":
        return "a space"
    if char in "\r\n":
        return "a line break"
    if char == "\t":
        return "a tab"
    if char.isspace():
        return "white space"
    if not char.isprintable():
        return "a control character"
    return "a character outside ASCII"
