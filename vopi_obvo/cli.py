"""`obvo`: the command line of the service, for deployers, administrators and operators."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo import __version__, db, store
from vopi_obvo.admin.cli_audit import add_audit_command
from vopi_obvo.admin.cli_held import add_held_commands
from vopi_obvo.admin.cli_notifications import add_notifications_commands
from vopi_obvo.admin.cli_rules import add_preview_command, add_rules_commands
from vopi_obvo.admin.cli_subscribers import add_subscribers_commands
from vopi_obvo.admin.common import Commands, Handler, obvo_engine, settings_of, vopi_source
from vopi_obvo.errors import ExitCode, ObvoError, SourceUnavailable
from vopi_obvo.ops import systemd
from vopi_obvo.rule_validation import format_problems, invalid_rules
from vopi_obvo.rules import RuleSet
from vopi_obvo.source import engines


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        return handler(args)
    except ObvoError as exc:
        print(f"obvo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except sa.exc.OperationalError as exc:
        detail = str(exc.orig or exc).strip().splitlines()[0]
        print(f"obvo: error: cannot reach the database: {detail}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except KeyboardInterrupt:
        return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="obvo", description="OBVO: notifies citizens about their applications in VOPI."
    )
    parser.add_argument("--version", action="version", version=f"obvo {__version__}")
    config_help = "configuration file (default: $OBVO_CONFIG or config/obvo.toml)"
    # Before or after the command: `obvo --config F status` and `obvo status --config F`. The
    # command's own option must not reset what was given before it, hence SUPPRESS there.
    parser.add_argument("--config", type=Path, default=None, help=config_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    commands = Commands(parser.add_subparsers(title="commands", metavar="COMMAND"), common)

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        return commands.add(name, handler, help=help_text, description=help_text)

    command("migrate", cmd_migrate, "create or upgrade OBVO's own schema")
    command("check", cmd_check, "check databases, VOPI queries and rules")
    command("run", cmd_run, "run the daemon until SIGTERM/SIGINT")
    command("once", cmd_once, "do all work due now, then exit")
    p = command("status", cmd_status, "cursor, lag, holes, notifications")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    # Operations (vopi_obvo/retention.py, roles.py).
    p = command(
        "purge", cmd_purge, "remove texts and addresses of notifications older than [retention]"
    )
    p.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    p = command("roles", cmd_roles, "print the SQL for OBVO's least-privilege database roles")
    p.add_argument("--reader", default="obvo_reader", help="VOPI reader role (obvo_reader)")
    p.add_argument("--owner", default="obvo", help="role owning OBVO's schema (obvo)")

    # Administration (vopi_obvo/admin/): rules, preview, subscribers, notifications, audit.
    add_rules_commands(commands)
    add_preview_command(commands)

    # The outbox. release/cancel --event-type decide about held notifications
    # (vopi_obvo/cli_held.py); other actions (list, show, retry, …) join this group.
    notifications = commands.group("notifications", "the outbox of notifications")
    held = add_held_commands(notifications)
    add_notifications_commands(notifications, held)

    add_subscribers_commands(commands)
    add_audit_command(commands)

    p = command("demo", cmd_demo, "the whole pipeline on an embedded PostgreSQL")
    p.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    p.add_argument("--data-dir", type=Path, default=None, help="keep the embedded database here")
    from vopi_obvo import portal  # noqa: PLC0415 - the portal's own subcommands

    portal.register(commands)
    from vopi_obvo import console  # noqa: PLC0415 - the staff console's own subcommands

    console.register(commands)
    return parser


# ---- helpers ----


# ---- commands ----


def cmd_migrate(args: argparse.Namespace) -> int:
    from vopi_obvo.ops.migrate import migrate  # noqa: PLC0415 - keeps `obvo --help` fast

    settings = settings_of(args)
    engine = obvo_engine(settings)
    applied = migrate(engine, settings.database.schema)
    if applied:
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
    else:
        print(f"schema {settings.database.schema} is up to date")
    return ExitCode.OK


def cmd_check(args: argparse.Namespace) -> int:
    from vopi_obvo.ops.file_secrets import exposed_private_key, exposed_secrets  # noqa: PLC0415
    from vopi_obvo.ops.migrate import pending_migrations  # noqa: PLC0415

    settings = settings_of(args)
    warnings = exposed_secrets(settings.path)
    sipass = settings.portal.sipass
    if sipass.enabled and sipass.key_file:
        key = exposed_private_key(sipass.key_file, "[portal.sipass] key_file")
        warnings += [key] if key else []
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    problems: list[str] = []
    obvo = obvo_engine(settings)
    try:
        pending = pending_migrations(obvo, settings.database.schema)
        if pending:
            problems.append(f"OBVO schema: {len(pending)} migration(s) pending; run `obvo migrate`")
        else:
            with obvo.connect() as conn:
                ruleset = store.load_rules(conn)
            problems.extend(_rule_row_problems(ruleset))
            print(f"OBVO database: ok ({len(ruleset.rules)} event type rule(s))")
    except sa.exc.OperationalError as exc:
        problems.append(f"OBVO database unreachable: {_first_line(exc)}")
    try:
        source = vopi_source(settings)
        source_problems = source.check()
        problems.extend(source_problems)
        if not source_problems:
            print("VOPI database: ok (events_query and parties_query return the right columns)")
        report = source.engine_report()
        for note in report.notes:
            print(f"VOPI engine: {note}")
        problems.extend(report.warnings)
    except sa.exc.OperationalError as exc:
        problems.append(f"VOPI database unreachable: {_first_line(exc)}")
    except SourceUnavailable as exc:
        problems.append(f"VOPI database unreachable: {exc}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return ExitCode.FAILURE if problems else ExitCode.OK


def _rule_row_problems(ruleset: RuleSet) -> list[str]:
    """Every invalid rule row, checked as `rules check` and `obvo status` check them."""
    return [f"rules: {p}" for p in format_problems(invalid_rules(ruleset))]


def _service(args: argparse.Namespace) -> Any:
    from vopi_obvo.daemon import Service  # noqa: PLC0415

    settings = settings_of(args)
    service = Service(settings)
    service.verify()
    return service


def cmd_run(args: argparse.Namespace) -> int:
    service = _service(args)
    log = structlog.get_logger("vopi_obvo")
    log.info("daemon.started", worker_id=service.worker_id, version=__version__)
    metrics: Any = None
    try:
        if service.settings.metrics.listen:
            from vopi_obvo.ops.metrics import MetricsServer  # noqa: PLC0415

            metrics = MetricsServer(service, service.settings.metrics.listen)
        with service.signals_stop():
            # Handlers first: a SIGHUP or SIGTERM right after READY must not kill the process.
            systemd.notify("READY=1", "STATUS=started")
            service.run()
    finally:
        systemd.notify("STOPPING=1")
        if metrics is not None:
            metrics.close()
        service.close()
    log.info("daemon.stopped", worker_id=service.worker_id)
    return ExitCode.OK


def cmd_once(args: argparse.Namespace) -> int:
    service = _service(args)
    try:
        with service.signals_stop():
            service.run(once=True)
    finally:
        service.close()
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from vopi_obvo.ops.status import format_status, gather_status  # noqa: PLC0415

    settings = settings_of(args)
    source = vopi_source(settings)
    report = gather_status(obvo_engine(settings), source, settings.health, settings.source)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_status(report))
    # Monitoring scripts act on the exit code; the reasons are in the output above.
    if not report["health"]["ok"]:
        return ExitCode.FAILURE
    return ExitCode.OK


def cmd_purge(args: argparse.Namespace) -> int:
    from vopi_obvo.ops import retention  # noqa: PLC0415

    settings = settings_of(args)
    engine = obvo_engine(settings)
    days = settings.retention.message_days
    report = retention.preview(engine, days) if args.dry_run else retention.purge(engine, days)
    print(report.describe(dry_run=args.dry_run))
    return ExitCode.OK


def cmd_roles(args: argparse.Namespace) -> int:
    from vopi_obvo.ops import roles  # noqa: PLC0415

    settings = settings_of(args)
    reader = roles.check_identifier(args.reader, "--reader")
    owner = roles.check_identifier(args.owner, "--owner")
    queries = [
        (name, text)
        for name in (
            "events_query",
            "parties_query",
            "party_by_tax_number_query",
            "event_types_query",
        )
        if (text := str(getattr(settings.source, name, "") or "").strip())
    ]
    engine = db.source_engine(settings.source_url, settings.source.statement_timeout)
    try:
        used = roles.used_objects(engine, queries)
    finally:
        engine.dispose()
    source = engines.for_engine(engine)
    print(roles.render(reader, owner, settings.database.schema, used, source))
    return ExitCode.OK


def cmd_demo(args: argparse.Namespace) -> int:
    from vopi_obvo.demo import run_demo  # noqa: PLC0415

    return run_demo(duration=args.duration, data_dir=args.data_dir)


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
