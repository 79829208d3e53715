"""`obvo console` serves the console; `obvo console grant|revoke|list` manage its staff.

Only `register` runs for every `obvo` command (the daemon's too): the staff table and the
certificate code (cryptography's X.509) are imported by the commands that use them.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vopi_obvo.admin.common import (
    Commands,
    actor_of,
    add_actor_option,
    obvo_engine,
    print_json,
    print_table,
    settings_of,
)
from vopi_obvo.admin.timespec import show_time
from vopi_obvo.console.roles import ROLES, parse_role, staff_name
from vopi_obvo.errors import ExitCode, InvalidInput

if TYPE_CHECKING:
    from vopi_obvo.web.certificates import CertificateIdentity


def register(commands: Commands) -> None:
    """Add `console` to the `obvo` command line (called from cli.build_parser)."""
    help_text = "the staff's intranet console (HTTP, behind the intranet TLS proxy)"
    actions = commands.served("console", cmd_serve, help_text)
    g = actions.add(
        "grant",
        cmd_grant,
        help="let the holder of an employee certificate use the console, in a role",
        description="Grant (or change) access: the certificate must be issued by a CA of "
        "[console] ca_files and be valid now. Granting again changes the role or name.",
    )
    g.add_argument("--certificate", required=True, type=Path, metavar="FILE.pem")
    g.add_argument("--role", required=True, help=ROLES)
    g.add_argument("--name", required=True, help="the staff member's name, as shown and audited")
    add_actor_option(g)
    r = actions.add(
        "revoke", cmd_revoke, help="take a staff member's access away (sessions end too)"
    )
    r.add_argument("staff", nargs="?", metavar="ID", help="staff id (as `list` shows)")
    r.add_argument("--certificate", type=Path, metavar="FILE.pem", help="or: their certificate")
    add_actor_option(r)
    ls = actions.add("list", cmd_list, help="staff members and their roles")
    ls.add_argument("--json", action="store_true", help="print JSON")


def read_certificate(path: Path, settings: Any) -> CertificateIdentity:
    """The identity in a PEM file, verified against [console] ca_files as at sign-in."""
    from vopi_obvo.console.settings import console_issuers  # noqa: PLC0415 - see the top
    from vopi_obvo.web.certificates import CertificateRefused  # noqa: PLC0415

    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise InvalidInput(f"--certificate {path}: no such file") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise InvalidInput(f"--certificate {path}: cannot be read ({exc.strerror})") from None
    if "PRIVATE KEY" in text:
        raise InvalidInput(
            f"--certificate {path} holds a private key: give only the certificate, never the key"
        )
    try:
        return console_issuers(settings).identify(text, dt.datetime.now(dt.UTC))
    except CertificateRefused as exc:
        raise InvalidInput(f"--certificate {path}: cannot sign in: {exc.detail}") from None


def cmd_grant(args: argparse.Namespace) -> int:
    from vopi_obvo.console import staff  # noqa: PLC0415 - see the module's docstring

    role = parse_role(args.role, "--role")
    name = staff_name(args.name, "--name")
    settings = settings_of(args)
    identity = read_certificate(args.certificate, settings)
    actor = actor_of(args)
    with obvo_engine(settings).begin() as conn:
        member, created = staff.grant(conn, identity, name, role, actor)
    verb = "granted" if created else "changed"
    print(f"{verb}: staff {member.id} {member.name}, role {member.role} ({member.issuer})")  # noqa: T201
    return ExitCode.OK


def cmd_revoke(args: argparse.Namespace) -> int:
    from vopi_obvo.console import staff  # noqa: PLC0415 - see the module's docstring

    if (args.staff is None) == (args.certificate is None):
        raise InvalidInput("name the staff member by ID or by --certificate (one of them)")
    settings = settings_of(args)
    actor = actor_of(args)
    with obvo_engine(settings).begin() as conn:
        if args.staff is not None:
            try:
                staff_id = int(args.staff)
            except ValueError:
                raise InvalidInput(f"ID: {args.staff!r} is not a staff id (a number)") from None
        else:
            identity = read_certificate(args.certificate, settings)
            found = staff.find(conn, certificate=identity)
            if not found:
                raise InvalidInput(f"--certificate {args.certificate}: not a staff member")
            staff_id = found[0].id
        member = staff.revoke(conn, staff_id, actor)
    print(f"revoked: staff {member.id} {member.name}")  # noqa: T201
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    from vopi_obvo.console import staff  # noqa: PLC0415 - see the module's docstring

    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        members = staff.find(conn)
    if args.json:
        print_json([m.as_json() for m in members])
        return ExitCode.OK
    print_table(
        ["id", "name", "role", "issuer", "granted", "by", "last seen", "revoked"],
        [
            (
                m.id,
                m.name,
                m.role.value,
                m.issuer,
                show_time(m.granted_at),
                m.granted_by,
                show_time(m.last_seen_at),
                show_time(m.revoked_at),
            )
            for m in members
        ],
    )
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace) -> int:
    from vopi_obvo.console.app import create_app  # noqa: PLC0415 - keeps `obvo --help` fast
    from vopi_obvo.console.context import Console  # noqa: PLC0415
    from vopi_obvo.console.settings import console_config  # noqa: PLC0415
    from vopi_obvo.web.serving import serve_web_app  # noqa: PLC0415

    settings = settings_of(args)
    config = console_config(settings)
    return serve_web_app(config, args.listen, lambda: Console(settings, config), create_app)
