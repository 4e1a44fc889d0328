"""Secrets inside URLs: `https://user:secret@host` is shown as `https://***@host`, everywhere.

A service URL from the environment (SENDGRID_API_HOST, GITHUB_API_URL) may carry credentials in
its userinfo; printed as is, they reached the job log and `state/mail_pending.json`. The adapters
show `display` in every message and add `secrets` to what they redact, like their tokens.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit


class SafeUrl(NamedTuple):
    url: str  # to connect to (unchanged)
    display: str  # to print: userinfo replaced by ***
    secrets: tuple[str, ...]  # the userinfo as written and decoded, to redact from any text


def safe_url(url: str) -> SafeUrl:
    """
    >>> safe_url("https://user:s3cr%40t@mail.example:8443/v3").display
    'https://***@mail.example:8443/v3'
    >>> sorted(safe_url("https://user:s3cr%40t@mail.example").secrets)
    ['s3cr%40t', 's3cr@t', 'user:s3cr%40t', 'user:s3cr@t']
    >>> safe_url("https://api.sendgrid.com").secrets
    ()
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return SafeUrl(url, url, ())
    userinfo, host = parts.netloc.rsplit("@", 1)
    found = {userinfo, unquote(userinfo)}
    if ":" in userinfo:
        password = userinfo.split(":", 1)[1]
        found |= {password, unquote(password)}
    display = urlunsplit(parts._replace(netloc=f"***@{host}"))
    return SafeUrl(url, display, tuple(sorted(s for s in found if len(s) >= 3)))


def redact(text: str, secrets) -> str:
    """`text` with every secret (longest first, so no fragment of one survives) replaced by ***."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
