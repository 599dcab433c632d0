"""``agent-console relay``: run the webhook relay (``services.relay``) in the foreground.

Secrets are read from the environment or the keyring (service ``agent-console-relay``), never from
the command line, where they would show in ``ps`` and shell history. On start one JSON line on
stdout says where it listens and which endpoints are enabled; the log goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

import platformdirs

from console.cli import Context, error, say
from console.storage.db import APP_NAME

ENV_HELP = """\
configuration (environment variable, else keyring service 'agent-console-relay' with the user name
in brackets, e.g. `keyring set agent-console-relay relay_token`):
  AGENT_CONSOLE_RELAY_TOKEN              [relay_token]        bearer token consoles pull with (required)
  AGENT_CONSOLE_RELAY_VERIFY_TOKEN       [verify_token]       Meta webhook verify token
  AGENT_CONSOLE_RELAY_META_APP_SECRET    [meta_app_secret]    Meta app secret (X-Hub-Signature-256)
  AGENT_CONSOLE_RELAY_TWILIO_AUTH_TOKEN  [twilio_auth_token]  Twilio auth token (X-Twilio-Signature)
  AGENT_CONSOLE_RELAY_PUBLIC_URL         [public_url]         the public base URL Twilio calls
  AGENT_CONSOLE_RELAY_X_CONSUMER_SECRET  [x_consumer_secret]  X consumer secret (CRC, signatures)
"""


def default_relay_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "relay.sqlite"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "relay",
        help="run the webhook relay for push-only channels (WhatsApp, Meta, Twilio, X)",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks one)")
    p.add_argument(
        "--db",
        dest="relay_db",
        type=Path,
        help="the relay's event file (default relay.sqlite in your data folder)",
    )
    p.set_defaults(func=cmd_relay)


def cmd_relay(args: argparse.Namespace, ctx: Context) -> int:
    from console.storage.relay_store import RelayStore
    from services.relay import Relay, load_config

    config = load_config()
    if not config.relay_token:
        error(
            "no relay token: set AGENT_CONSOLE_RELAY_TOKEN or "
            "`keyring set agent-console-relay relay_token` (consoles use it to pull events)"
        )
        return 2
    store = RelayStore(args.relay_db or default_relay_path())
    try:
        return asyncio.run(_serve(Relay(config, store), args.host, args.port, store.path))
    finally:
        store.close()


async def _serve(relay: Any, host: str, port: int, db: Path) -> int:
    server = await relay.serve(host, port)
    bound = server.sockets[0].getsockname()
    enabled = relay.config.enabled()
    sys.stdout.write(
        json.dumps(
            {"listening": f"http://{bound[0]}:{bound[1]}", "db": str(db), "enabled": enabled}
        )
        + "\n"
    )
    sys.stdout.flush()
    if not enabled:
        say("relay: no webhook secret is configured: every webhook will be refused (503)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    await relay.close_connections()
    say("relay: stopped")
    return 0
