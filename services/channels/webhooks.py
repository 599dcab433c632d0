"""Webhook signature checks and the X CRC answer, for the relay (``services.relay``).

Each function takes the secret and the request parts it signs, and compares in constant time
(``hmac.compare_digest``). A missing or malformed header is simply "not valid": the caller answers
403 and stores nothing. Secrets are never logged or put in exception texts here.

- Meta (Facebook, Instagram, Messenger, WhatsApp): ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256
  of the raw body with the app secret.
- Twilio: ``X-Twilio-Signature``, base64 HMAC-SHA1 of the full URL Twilio called followed by every
  POST parameter as ``key + value`` in key order, with the auth token. Twilio's own libraries also
  accept the URL with the default port added or removed, so we do too.
- X: the CRC answer ``sha256=<base64 HMAC-SHA256(crc_token)>`` with the consumer secret, and
  ``x-twitter-webhooks-signature: sha256=<base64>`` over the raw body.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "verify_meta_signature",
    "verify_twilio_signature",
    "verify_x_signature",
    "x_crc_response",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _hmac(key: str, message: bytes, digest: str) -> bytes:
    return hmac.new(key.encode("utf-8"), message, digest).digest()


def _prefixed(header: str | None, prefix: str = "sha256=") -> str | None:
    if not header:
        return None
    header = header.strip()
    if not header.lower().startswith(prefix):
        return None
    return header[len(prefix) :]


def verify_meta_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """True when ``X-Hub-Signature-256`` is the hex HMAC-SHA256 of ``body`` with ``app_secret``."""
    given = _prefixed(header)
    if not app_secret or given is None:
        return False
    expected = _hmac(app_secret, body, "sha256").hex()
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii", "replace"))


def _twilio_payload(url: str, params: Mapping[str, str]) -> bytes:
    return (url + "".join(key + params[key] for key in sorted(params))).encode("utf-8")


def _url_variants(url: str) -> list[str]:
    """The URL as given, plus with the default port added or removed (Twilio's own rule)."""
    parts = urlsplit(url)
    variants = [url]
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        netloc = f"{prefix}{host}:{default}"
    elif parts.port == default:
        netloc = f"{prefix}{host}"
    else:
        return variants
    variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def verify_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """True when ``X-Twilio-Signature`` signs ``url`` and the form ``params`` with ``auth_token``."""
    if not auth_token or not signature:
        return False
    given = signature.strip().encode("ascii", "replace")
    ok = False
    for candidate in _url_variants(url):
        expected = base64.b64encode(_hmac(auth_token, _twilio_payload(candidate, params), "sha1"))
        # every variant is compared (no early exit) so timing does not say which one matched
        ok = hmac.compare_digest(expected, given) or ok
    return ok


def x_crc_response(consumer_secret: str, crc_token: str) -> str:
    """The ``response_token`` X expects for a CRC challenge."""
    digest = _hmac(consumer_secret, crc_token.encode("utf-8"), "sha256")
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def verify_x_signature(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """True when ``x-twitter-webhooks-signature`` is the base64 HMAC-SHA256 of ``body``."""
    given = _prefixed(header)
    if not consumer_secret or given is None:
        return False
    expected = base64.b64encode(_hmac(consumer_secret, body, "sha256"))
    return hmac.compare_digest(expected, given.encode("ascii", "replace"))
