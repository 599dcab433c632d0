"""Signature checks against the channels' published examples and independent computations."""

from __future__ import annotations

import base64
import hashlib
import hmac

from services.channels.webhooks import (
    verify_meta_signature,
    verify_twilio_signature,
    verify_x_signature,
    x_crc_response,
)
from services.relay import RelayConfig, load_config

# Twilio's published example (TwilioDevEd/api-snippets, security/signature_validation)
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_published_example() -> None:
    assert verify_twilio_signature("12345", TWILIO_URL, TWILIO_PARAMS, TWILIO_SIGNATURE)
    # Twilio's libraries accept the URL with the default port too
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert verify_twilio_signature("12345", with_port, TWILIO_PARAMS, TWILIO_SIGNATURE)
    assert not verify_twilio_signature("12346", TWILIO_URL, TWILIO_PARAMS, TWILIO_SIGNATURE)
    changed = dict(TWILIO_PARAMS, Digits="1235")
    assert not verify_twilio_signature("12345", TWILIO_URL, changed, TWILIO_SIGNATURE)
    assert not verify_twilio_signature(
        "12345", TWILIO_URL + "&x=1", TWILIO_PARAMS, TWILIO_SIGNATURE
    )
    assert not verify_twilio_signature("12345", TWILIO_URL, TWILIO_PARAMS, None)
    assert not verify_twilio_signature("", TWILIO_URL, TWILIO_PARAMS, TWILIO_SIGNATURE)


def test_meta_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"object":"page","entry":[]}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_meta_signature("s3cret", body, good)
    assert verify_meta_signature("s3cret", body, good.upper().replace("SHA256=", "sha256="))
    flipped = bytes([body[0] ^ 1]) + body[1:]
    assert not verify_meta_signature("s3cret", flipped, good)
    assert not verify_meta_signature("other", body, good)
    assert not verify_meta_signature("s3cret", body, None)
    assert not verify_meta_signature("s3cret", body, good.removeprefix("sha256="))
    assert not verify_meta_signature("", body, good)
    assert not verify_meta_signature("s3cret", body, "sha256=é")


def test_x_crc_matches_an_independent_computation() -> None:
    token, secret = (
        "9b4507b3-1d9c-4dc2-b2c3-f3a9f1d1a5c1",
        "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLHJb",
    )
    expected = base64.b64encode(
        hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    ).decode()
    assert x_crc_response(secret, token) == "sha256=" + expected
    body = b'{"tweet_create_events":[]}'
    sig = (
        "sha256="
        + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    )
    assert verify_x_signature(secret, body, sig)
    assert not verify_x_signature(secret, body + b"\n", sig)
    assert not verify_x_signature(secret, body, None)


def test_config_from_environment_then_keyring_and_repr_hides_values() -> None:
    keyring_values = {("agent-console-relay", "meta_app_secret"): "from-keyring"}
    config = load_config(
        {"AGENT_CONSOLE_RELAY_TOKEN": "from-env"},
        lambda service, user: keyring_values.get((service, user)),
    )
    assert config.relay_token == "from-env"
    assert config.meta_app_secret == "from-keyring"
    assert config.twilio_auth_token is None
    assert "from-env" not in repr(config) and "from-keyring" not in repr(config)
    assert config.enabled() == ["meta"]

    def broken(service: str, user: str) -> str | None:
        raise RuntimeError("no backend")

    assert load_config({}, broken) == RelayConfig()
