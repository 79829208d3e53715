"""`obvo portal`: serve the portal on uvicorn; `obvo portal token CLIENT` makes an API token;
`obvo portal sipass-metadata` prints the SAML metadata to register with SI-PASS."""

from __future__ import annotations

import argparse
import signal
from types import FrameType
from typing import Any

import structlog

from vopi_obvo import __version__
from vopi_obvo.config import Settings, load_settings
from vopi_obvo.errors import ConfigError, ExitCode, InvalidInput
from vopi_obvo.ops.logsetup import configure_logging
from vopi_obvo.portal import tokens

log = structlog.get_logger("vopi_obvo.portal")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `portal` to the `obvo` command line (called from cli.build_parser)."""
    help_text = "the citizens' self-service portal and API (HTTP, behind a TLS reverse proxy)"
    p = sub.add_parser("portal", parents=[common], help=help_text, description=help_text)
    p.add_argument("--listen", default=None, help="HOST:PORT (default: [portal] listen)")
    p.set_defaults(handler=cmd_serve)
    actions = p.add_subparsers(title="portal commands", metavar="ACTION")
    t = actions.add_parser(
        "token",
        parents=[common],
        help="make an API token for a client; prints the token and its [portal] api_tokens line",
    )
    t.add_argument("client", help="the client's name, e.g. koper-portal")
    t.set_defaults(handler=cmd_token)
    m = actions.add_parser(
        "sipass-metadata",
        parents=[common],
        help="print this portal's SAML metadata, to register with SI-PASS ([portal.sipass])",
    )
    m.set_defaults(handler=cmd_sipass_metadata)


def cmd_sipass_metadata(args: argparse.Namespace) -> int:
    from vopi_obvo.portal.settings import portal_config  # noqa: PLC0415

    config = portal_config(_settings(args))
    if config.sipass is None:
        raise ConfigError("[portal.sipass] enabled is false: there is no SI-PASS sign-in")
    print(config.sipass.metadata())  # noqa: T201
    return ExitCode.OK


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


def cmd_token(args: argparse.Namespace) -> int:
    client = args.client.strip()
    entries, problems = tokens.parse_entries([f"{client}:sha256:{'0' * 64}"])
    if problems or not entries:
        raise InvalidInput(
            f"client name {args.client!r}: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    token = tokens.new_token()
    print(f"token (give it to the client once; it is not stored): {token}")  # noqa: T201
    print("add to [portal] api_tokens:")  # noqa: T201
    print(f'  "{tokens.config_line(client, token)}",')  # noqa: T201
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace) -> int:
    from vopi_obvo.ops.migrate import pending_migrations  # noqa: PLC0415
    from vopi_obvo.portal.app import create_app  # noqa: PLC0415
    from vopi_obvo.portal.context import Portal  # noqa: PLC0415
    from vopi_obvo.portal.settings import parse_listen, portal_config  # noqa: PLC0415

    settings = _settings(args)
    config = portal_config(settings)
    host, port = config.host, config.port
    if args.listen:
        try:
            host, port = parse_listen(args.listen)
        except ValueError as exc:
            raise ConfigError(f"--listen {exc}") from None
    portal = Portal(settings, config)
    try:
        pending = pending_migrations(portal.engine, settings.database.schema)
        if pending:
            raise ConfigError(
                f"OBVO's schema is not up to date ({len(pending)} migration(s) pending): "
                "run `obvo migrate` first"
            )
        log.info(
            "portal.started",
            version=__version__,
            listen=f"{host}:{port}",
            issuers=len(config.issuers.cas),
            api_clients=len(config.api_clients),
            sipass=config.sipass is not None,
        )
        # uvicorn stops gracefully on SIGTERM/SIGINT and then raises the signal again for the
        # handler that was there before it: a quiet one, so the command ends with exit 0.
        previous = {s: signal.signal(s, _ignore) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            _serve(create_app(portal), host, port)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        portal.close()
    log.info("portal.stopped")
    return ExitCode.OK


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Swallows the signal uvicorn re-raises after its graceful shutdown."""


def _serve(app: Any, host: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415 - keeps `obvo --help` fast

    uvicorn.run(
        app,
        host=host,
        port=port,
        # The peer address must stay the TCP peer: it decides whether the certificate
        # header is trusted. Never let X-Forwarded-For rewrite it.
        proxy_headers=False,
        forwarded_allow_ips="",
        server_header=False,
        date_header=True,
        access_log=False,  # our own line per request names the route, not the path
        log_config=None,
        timeout_graceful_shutdown=10,
    )
