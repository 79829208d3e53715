"""`obvo portal`: serve the portal on uvicorn; `obvo portal token CLIENT` makes an API token;
`obvo portal sipass-metadata` prints the SAML metadata to register with SI-PASS."""

from __future__ import annotations

import argparse

from vopi_obvo.admin.common import Commands, settings_of
from vopi_obvo.errors import ConfigError, ExitCode, InvalidInput
from vopi_obvo.portal import tokens


def register(commands: Commands) -> None:
    """Add `portal` to the `obvo` command line (called from cli.build_parser)."""
    help_text = "the citizens' self-service portal and API (HTTP, behind a TLS reverse proxy)"
    actions = commands.served("portal", cmd_serve, help_text)
    t = actions.add(
        "token",
        cmd_token,
        help="make an API token for a client; prints the token and its [portal] api_tokens line",
    )
    t.add_argument("client", help="the client's name, e.g. koper-portal")
    actions.add(
        "sipass-metadata",
        cmd_sipass_metadata,
        help="print this portal's SAML metadata, to register with SI-PASS ([portal.sipass])",
    )


def cmd_sipass_metadata(args: argparse.Namespace) -> int:
    from vopi_obvo.portal.settings import portal_config  # noqa: PLC0415

    config = portal_config(settings_of(args))
    if config.sipass is None:
        raise ConfigError("[portal.sipass] enabled is false: there is no SI-PASS sign-in")
    print(config.sipass.metadata())  # noqa: T201
    return ExitCode.OK


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
    from vopi_obvo.portal.app import create_app  # noqa: PLC0415 - keeps `obvo --help` fast
    from vopi_obvo.portal.context import Portal  # noqa: PLC0415
    from vopi_obvo.portal.settings import portal_config  # noqa: PLC0415
    from vopi_obvo.web.serving import serve_web_app  # noqa: PLC0415

    settings = settings_of(args)
    config = portal_config(settings)
    return serve_web_app(
        config,
        args.listen,
        lambda: Portal(settings, config),
        create_app,
        api_clients=len(config.api_clients),
        sipass=config.sipass is not None,
    )
