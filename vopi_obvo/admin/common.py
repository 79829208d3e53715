"""What every administrative command shares: settings, engines, output, the actor."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from vopi_obvo import db
from vopi_obvo.admin.audit import default_actor
from vopi_obvo.config import Settings, load_settings
from vopi_obvo.errors import InvalidInput
from vopi_obvo.ops.logsetup import configure_logging
from vopi_obvo.source.vopi import VopiSource

Handler = Callable[[argparse.Namespace], int]


class Commands:
    """Where commands, or a command's actions, are added to `obvo`'s parser: each with the
    common options (`--config`) and the handler that runs it (cli.build_parser makes the
    first; `group` and `served` the ones below it)."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self.sub = sub  # argparse's private _SubParsersAction
        self.common = common

    def add(
        self, name: str, handler: Handler, *, help: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        """One command or action; its own options are added to what this returns."""
        parser: argparse.ArgumentParser = self.sub.add_parser(
            name, parents=[self.common], help=help, description=description
        )
        parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, help: str) -> Commands:
        """`obvo NAME ACTION`: a command that is only its actions (one must be given)."""
        parser = self.sub.add_parser(name, help=help)
        return Commands(
            parser.add_subparsers(title=f"{name} commands", metavar="ACTION", required=True),
            self.common,
        )

    def served(self, name: str, serve: Handler, help: str) -> Commands:
        """`obvo portal|console`: serves (on `--listen` or `[NAME] listen`) when no action
        is given; its actions (tokens, staff, …) are added to what this returns."""
        parser = self.add(name, serve, help=help, description=help)
        parser.add_argument("--listen", default=None, help=f"HOST:PORT (default: [{name}] listen)")
        return Commands(
            parser.add_subparsers(title=f"{name} commands", metavar="ACTION"), self.common
        )


def settings_of(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


def obvo_engine(settings: Settings) -> sa.Engine:
    return db.obvo_engine(settings.database.url, settings.database.schema, pool_size=1)


def vopi_source(settings: Settings) -> VopiSource:
    engine = db.source_engine(settings.source_url, settings.source.statement_timeout)
    return VopiSource(
        engine,
        settings.source.events_query,
        settings.source.parties_query,
        settings.source.timezone,
    )


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--actor",
        default=None,
        help="who makes the change, for the audit log (default: the OS user; under sudo, "
        "the user who ran sudo)",
    )


def actor_of(args: argparse.Namespace) -> str:
    given: str | None = getattr(args, "actor", None)
    if given is None:
        return default_actor()
    actor = given.strip()
    if not actor:
        raise InvalidInput("--actor must not be empty")
    if len(actor) > 200 or any(not ch.isprintable() for ch in actor):
        raise InvalidInput("--actor must be a printable name of at most 200 characters")
    return actor


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Aligned columns; numbers right-aligned, everything else left-aligned."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], header: bool = False) -> str:
        parts = [
            v.rjust(w) if numeric[i] and not header else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(line(list(headers), header=True))
    for row in cells:
        print(line(row))


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def one_line(text: str | None, width: int = 60) -> str:
    """A cell for a table: newlines folded, long texts cut with an ellipsis."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def warn(message: str) -> None:
    print(f"obvo: warning: {message}", file=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (argparse names the option on error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value
