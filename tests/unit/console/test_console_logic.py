"""The console's pure parts: roles, texts, charts and the figures behind them, settings."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path

import pytest

from tests.console_support import console_overrides
from tests.portal_support import make_pki
from tests.support import EXAMPLE_CONFIG
from vopi_obvo.config import settings_from_mapping
from vopi_obvo.console import charts, figures, texts
from vopi_obvo.console.roles import Role, parse_role, staff_name
from vopi_obvo.console.settings import console_config
from vopi_obvo.errors import ConfigError, InvalidInput


def test_each_role_includes_the_ones_below_it() -> None:
    assert Role.ADMIN.allows(Role.CLERK) and Role.ADMIN.allows(Role.VIEWER)
    assert Role.CLERK.allows(Role.VIEWER) and not Role.CLERK.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.CLERK)
    assert parse_role(" Clerk ", "--role") is Role.CLERK
    with pytest.raises(InvalidInput, match="--role must be one of viewer, clerk, admin"):
        parse_role("boss", "--role")
    assert staff_name("  Ana   Kos ", "--name") == "Ana Kos"
    with pytest.raises(InvalidInput, match="must not be empty"):
        staff_name("   ", "--name")


def test_both_languages_have_the_same_texts_and_placeholders() -> None:
    sl, it = texts.TEXTS["sl"], texts.TEXTS["it"]
    assert sl.keys() == it.keys()
    fields = string.Formatter()
    for key in sl:
        names = {f[1] for f in fields.parse(sl[key]) if f[1]}
        assert names == {f[1] for f in fields.parse(it[key]) if f[1]}, key


def test_every_refusal_has_a_page_text() -> None:
    from vopi_obvo.web.certificates import Refusal  # noqa: PLC0415

    for reason in Refusal:
        assert f"refused_{reason.value}" in texts.TEXTS["sl"], reason


def test_the_axis_ends_on_a_round_number() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 0.4, 1, 3, 7, 11, 180, 999)] == [
        1, 1, 1, 5, 10, 20, 200, 1000,
    ]  # fmt: skip


def test_stacked_bars_escape_their_texts_and_stack_in_order() -> None:
    series = [
        charts.Series("e-pošta", [2, 0], "#0b4f8a"),
        charts.Series("<sms>", [3, 1], "#a34a00"),
    ]
    svg = str(charts.stacked_bars(["1. 12.", "2. 12."], series, 'a "chart"'))
    assert svg.count("<rect") == 3  # a zero is not drawn
    assert "&lt;sms&gt; 3" in svg and "<sms>" not in svg
    assert 'aria-label="a &#34;chart&#34;"' in svg


def test_days_and_months_are_ljubljana_ones() -> None:
    # 23:30 UTC on 31 March is already 1 April in Ljubljana (summer time, UTC+2).
    now = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)
    days = figures.day_range(now, 3)
    assert days == [dt.date(2026, 3, 30), dt.date(2026, 3, 31), dt.date(2026, 4, 1)]
    assert figures.month_range(now, 3) == ["2026-02", "2026-03", "2026-04"]
    assert figures.start_of_day(now).isoformat() == "2026-04-01T00:00:00+02:00"
    series = figures.daily_by_channel([(days[2], "sms", 4)], days)
    assert [(s.name, list(s.values)) for s in series] == [
        ("email", [0, 0, 0]),
        ("sms", [0, 0, 4]),
    ]


def test_the_bill_csv_has_the_same_figures_as_the_chart() -> None:
    rows = [figures.BillRow("2026-03", "KLAS", 7, 3), figures.BillRow("2026-04", "VLOZ", 2, 2)]
    assert figures.bill_csv(rows).splitlines() == [
        "month,event_type,sms_parts,messages",
        "2026-03,KLAS,7,3",
        "2026-04,VLOZ,2,2",
    ]
    [klas, vloz] = figures.bill_series(rows, ["2026-03", "2026-04"])
    assert (klas.name, list(klas.values), list(vloz.values)) == ("KLAS", [7, 0], [0, 2])


def test_a_bad_console_section_names_every_problem(tmp_path: Path) -> None:
    import tomllib  # noqa: PLC0415

    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["database"]["url"] = "postgresql://obvo@db.example/obvo"
    raw["console"].update(listen="nowhere", logo_file=str(tmp_path / "logo.gif"))
    with pytest.raises(ConfigError) as caught:
        console_config(settings_from_mapping(raw, {}))
    message = str(caught.value)
    for expected in ("listen must be HOST:PORT", "ca_files is required", "session_secret", ".png"):
        assert expected in message
    pki = make_pki(tmp_path)
    for key, value in console_overrides(pki).items():
        raw["console"][key.split("__")[1]] = value
    logo = tmp_path / "grb.svg"
    logo.write_text("<svg/>", encoding="utf-8")
    raw["console"].update(listen="127.0.0.1:8081", logo_file=str(logo))
    config = console_config(settings_from_mapping(raw, {}))
    assert (config.host, config.port, config.https) == ("127.0.0.1", 8081, False)
    assert config.logo == (b"<svg/>", "image/svg+xml")
    assert config.organisation == "Mestna občina Koper"
