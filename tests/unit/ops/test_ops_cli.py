"""Command-line words of the operations commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from vopi_obvo.cli import build_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "/etc/obvo/obvo.toml", "status"],
        ["status", "--config", "/etc/obvo/obvo.toml"],
        ["--config", "/srv/other.toml", "status", "--config", "/etc/obvo/obvo.toml"],
    ],
)
def test_config_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.config == Path("/etc/obvo/obvo.toml")


def test_no_config_means_the_default_lookup() -> None:
    assert build_parser().parse_args(["status"]).config is None


def test_purge_and_roles() -> None:
    parser = build_parser()
    assert parser.parse_args(["purge", "--dry-run"]).dry_run is True
    assert parser.parse_args(["purge"]).dry_run is False
    roles = parser.parse_args(["roles", "--reader", "r", "--owner", "o"])
    assert (roles.reader, roles.owner) == ("r", "o")
    defaults = parser.parse_args(["roles"])
    assert (defaults.reader, defaults.owner) == ("obvo_reader", "obvo")
