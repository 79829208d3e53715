"""`obvo`: the command line of the service, for deployers, administrators and operators."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo import __version__, db, store, systemd
from vopi_obvo.config import Settings, load_settings
from vopi_obvo.contacts import normalise_email, normalise_phone
from vopi_obvo.errors import ExitCode, InvalidInput, ObvoError, RulesError
from vopi_obvo.logsetup import configure_logging
from vopi_obvo.queries import q
from vopi_obvo.rules import (
    DEFAULT_LANGUAGE,
    EventsLevel,
    describe_changes,
    parse_rules_document,
)

Handler = Callable[[argparse.Namespace], int]


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
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $OBVO_CONFIG or config/obvo.toml)",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    command("migrate", cmd_migrate, "create or upgrade OBVO's own schema")
    command("check", cmd_check, "check databases, VOPI queries and rules")
    command("run", cmd_run, "run the daemon until SIGTERM/SIGINT")
    command("once", cmd_once, "do all work due now, then exit")
    p = command("status", cmd_status, "cursor, lag, holes, notifications")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    rules = sub.add_parser("rules", help="event classification and templates")
    rules_sub = rules.add_subparsers(title="rules commands", metavar="ACTION", required=True)
    p = rules_sub.add_parser("apply", parents=[common], help="load rules from a TOML file")
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    p.set_defaults(handler=cmd_rules_apply)

    subs = sub.add_parser("subscribers", help="citizens' subscriptions")
    subs_sub = subs.add_subparsers(title="subscribers commands", metavar="ACTION", required=True)
    p = subs_sub.add_parser("add", parents=[common], help="subscribe a party")
    p.add_argument("--party", required=True, help="VOPI party id")
    p.add_argument("--email", help="e-mail address")
    p.add_argument("--phone", help="mobile number (041 123 456 or +386 41 123 456)")
    p.add_argument("--events", choices=["all", "key"], default="all")
    p.add_argument("--language", default=DEFAULT_LANGUAGE, help="two-letter code (default sl)")
    p.set_defaults(handler=cmd_subscribers_add)
    p = subs_sub.add_parser("list", parents=[common], help="list subscribers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_subscribers_list)
    p = subs_sub.add_parser("remove", parents=[common], help="end a party's subscription")
    p.add_argument("--party", required=True)
    p.set_defaults(handler=cmd_subscribers_remove)

    p = command("demo", cmd_demo, "the whole pipeline on an embedded PostgreSQL")
    p.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    p.add_argument("--data-dir", type=Path, default=None, help="keep the embedded database here")
    return parser


# ---- helpers ----


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


def _obvo_engine(settings: Settings) -> sa.Engine:
    return db.obvo_engine(settings.database.url, settings.database.schema, pool_size=1)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


# ---- commands ----


def cmd_migrate(args: argparse.Namespace) -> int:
    from vopi_obvo.migrate import migrate  # noqa: PLC0415 - keeps `obvo --help` fast

    settings = _settings(args)
    engine = _obvo_engine(settings)
    applied = migrate(engine, settings.database.schema)
    if applied:
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
    else:
        print(f"schema {settings.database.schema} is up to date")
    return ExitCode.OK


def cmd_check(args: argparse.Namespace) -> int:
    from vopi_obvo.migrate import pending_migrations  # noqa: PLC0415
    from vopi_obvo.source import VopiSource  # noqa: PLC0415

    settings = _settings(args)
    problems: list[str] = []
    obvo = _obvo_engine(settings)
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
    vopi = db.source_engine(settings.source_url, settings.source.statement_timeout)
    try:
        source = VopiSource(vopi, settings.source.events_query, settings.source.parties_query)
        source_problems = source.check()
        problems.extend(source_problems)
        if not source_problems:
            print("VOPI database: ok (events_query and parties_query return the right columns)")
    except sa.exc.OperationalError as exc:
        problems.append(f"VOPI database unreachable: {_first_line(exc)}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return ExitCode.FAILURE if problems else ExitCode.OK


def _rule_row_problems(ruleset: Any) -> list[str]:
    from vopi_obvo.rules import rules_to_document  # noqa: PLC0415

    try:
        parse_rules_document(rules_to_document(ruleset))
    except RulesError as exc:
        return [f"rules: {p}" for p in exc.problems]
    return []


def cmd_rules_apply(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path: Path = args.file
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        new_rules = parse_rules_document(document)
    except RulesError as exc:
        raise RulesError([f"{path}: {p}" for p in exc.problems]) from None
    engine = _obvo_engine(settings)
    with engine.begin() as conn:
        current = store.load_rules(conn)
        changes = describe_changes(current, new_rules)
        if not args.dry_run:
            store.save_rules(conn, new_rules)
    for line in changes:
        print(line)
    print("(dry run: nothing written)" if args.dry_run else f"applied {path}")
    return ExitCode.OK


def cmd_subscribers_add(args: argparse.Namespace) -> int:
    if not args.email and not args.phone:
        raise InvalidInput("a subscriber needs at least one channel: --email and/or --phone")
    party = args.party.strip()
    if not party:
        raise InvalidInput("--party must not be empty")
    email = normalise_email(args.email) if args.email else None
    phone = normalise_phone(args.phone) if args.phone else None
    language = args.language.strip().lower()
    if len(language) != 2 or not language.isalpha():
        raise InvalidInput(
            f"--language must be a two-letter code such as sl or it, not {args.language!r}"
        )
    settings = _settings(args)
    with _obvo_engine(settings).begin() as conn:
        new_id = conn.execute(
            q("insert_subscriber"),
            {
                "party_id": party,
                "email": email,
                "phone": phone,
                "events": EventsLevel(args.events).value,
                "language": language,
            },
        ).scalar()
    if new_id is None:
        raise InvalidInput(f"party {party} is already subscribed (remove it first to change it)")
    channels = ", ".join(c for c in (email, phone) if c)
    print(f"subscribed party {party} (subscriber {new_id}): {channels}; events: {args.events}")
    return ExitCode.OK


def cmd_subscribers_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _obvo_engine(settings).connect() as conn:
        rows = conn.execute(q("list_subscribers")).all()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "party": r.party_id,
                        "email": r.email,
                        "phone": r.phone,
                        "events": r.events,
                        "language": r.language,
                        "created_at": r.created_at.isoformat(),
                    }
                    for r in rows
                ],
                ensure_ascii=False,
            )
        )
        return ExitCode.OK
    print_table(
        ["id", "party", "email", "phone", "events", "language"],
        [(r.id, r.party_id, r.email, r.phone, r.events, r.language) for r in rows],
    )
    return ExitCode.OK


def cmd_subscribers_remove(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _obvo_engine(settings).begin() as conn:
        removed = conn.execute(q("delete_subscriber"), {"party_id": args.party.strip()}).scalar()
    if removed is None:
        raise InvalidInput(f"party {args.party} has no subscription")
    print(f"removed the subscription of party {args.party}")
    return ExitCode.OK


def _service(args: argparse.Namespace) -> Any:
    from vopi_obvo.daemon import Service  # noqa: PLC0415

    settings = _settings(args)
    service = Service(settings)
    service.verify()
    return service


def cmd_run(args: argparse.Namespace) -> int:
    service = _service(args)
    log = structlog.get_logger("vopi_obvo")
    log.info("daemon.started", worker_id=service.worker_id, version=__version__)
    systemd.notify("READY=1", "STATUS=started")
    try:
        with service.signals_stop():
            service.run()
    finally:
        systemd.notify("STOPPING=1")
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
    from vopi_obvo.source import VopiSource  # noqa: PLC0415
    from vopi_obvo.status import format_status, gather_status  # noqa: PLC0415

    settings = _settings(args)
    vopi = db.source_engine(settings.source_url, settings.source.statement_timeout)
    source = VopiSource(vopi, settings.source.events_query, settings.source.parties_query)
    report = gather_status(_obvo_engine(settings), source)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_status(report))
    return ExitCode.OK


def cmd_demo(args: argparse.Namespace) -> int:
    from vopi_obvo.demo import run_demo  # noqa: PLC0415

    return run_demo(duration=args.duration, data_dir=args.data_dir)


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
