"""Validation problems and their one catalogue: every code in English, Slovenian and Italian
with the same placeholders; every code the code base raises is catalogued (found by reading
the source, so a new Problem("...") without its texts fails here); rendering in a language,
field names and nested problems included; English is what the CLI printed before."""

from __future__ import annotations

import ast
import datetime as dt
import string
from pathlib import Path

import pytest

from vopi_obvo.admin import subscriber_input as inp
from vopi_obvo.admin.rules_ops import parse_rules_text
from vopi_obvo.console.texts import TEXTS
from vopi_obvo.errors import InvalidInput, RulesError
from vopi_obvo.messages.contacts import normalise_email
from vopi_obvo.problem_texts import CATALOGUE, LANGUAGES, OPTIONAL_PLACEHOLDERS
from vopi_obvo.problems import Problem, at, render

PACKAGE = Path(__file__).resolve().parents[2] / "vopi_obvo"
# Texts the same in every language: how problems are joined, a text from elsewhere shown as it
# is, and names that are names (SMS).
SAME_IN_EVERY_LANGUAGE = {"at", "hinted", "detail", "several", "part.sms"}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def problem_calls() -> list[tuple[Path, ast.Call]]:
    """Every `Problem(...)` call in the package."""
    calls: list[tuple[Path, ast.Call]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Problem":
                calls.append((path, node))
    return calls


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"


def test_every_code_has_every_language_with_the_same_placeholders() -> None:
    problems: list[str] = []
    for code, texts in CATALOGUE.items():
        missing = [lang for lang in LANGUAGES if not texts.get(lang, "").strip()]
        if missing:
            problems.append(f"{code}: no {', '.join(missing)} text")
            continue
        if set(texts) - set(LANGUAGES):
            problems.append(f"{code}: unknown language(s) {sorted(set(texts) - set(LANGUAGES))}")
        english = placeholders(texts["en"])
        for lang in LANGUAGES[1:]:
            found = placeholders(texts[lang])
            if found - english:
                problems.append(f"{code} ({lang}): placeholders not in English {found - english}")
            if english - found - OPTIONAL_PLACEHOLDERS:
                problems.append(f"{code} ({lang}): leaves out {english - found}")
            if texts[lang] == texts["en"] and code not in SAME_IN_EVERY_LANGUAGE:
                problems.append(f"{code} ({lang}): the English text, not translated")
    assert not problems, "\n".join(problems)


def test_every_problem_raised_in_the_code_base_is_in_the_catalogue() -> None:
    calls = problem_calls()
    assert len(calls) > 50  # the scan sees the validators (a broken scan must not pass)
    problems: list[str] = []
    used: set[str] = set()
    for path, call in calls:
        first = call.args[0] if call.args else None
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            problems.append(f"{where(path, call)}: Problem's code must be a literal text")
            continue
        code = first.value
        used.add(code)
        if code not in CATALOGUE:
            problems.append(f"{where(path, call)}: {code!r} is not in problem_texts.CATALOGUE")
            continue
        params = call.args[1] if len(call.args) > 1 else None
        if params is None or isinstance(params, ast.Dict):
            given = {
                k.value for k in (params.keys if params else []) if isinstance(k, ast.Constant)
            }
            wanted = placeholders(CATALOGUE[code]["en"])
            if given != wanted:
                problems.append(f"{where(path, call)}: {code} takes {wanted}, given {given}")
    unused = sorted(set(CATALOGUE) - used)
    problems += [f"problem_texts.CATALOGUE: {code!r} is never raised" for code in unused]
    assert not problems, "\n".join(problems)


def test_a_problem_is_worded_in_the_language_asked_field_names_included() -> None:
    with pytest.raises(InvalidInput) as caught:
        inp.email("ana.example.si", Problem("field.email"))
    [problem] = caught.value.problems
    assert render(problem, "sl") == "E-pošta: »ana.example.si« ni veljaven e-poštni naslov"
    assert render(problem, "it") == "E-mail: «ana.example.si» non è un indirizzo e-mail valido"
    assert str(caught.value) == str(problem)
    assert str(problem).startswith("e-mail: invalid e-mail address 'ana.example.si': ")
    # A language the catalogue lacks reads Slovenian, the default.
    assert render(problem, "hu") == render(problem, "sl")


def test_english_is_what_the_cli_printed() -> None:
    """The CLI passes its options as plain texts: the messages read as before."""
    with pytest.raises(InvalidInput) as caught:
        normalise_email("not an address")
    assert str(caught.value).startswith("invalid e-mail address 'not an address': ")
    with pytest.raises(InvalidInput) as caught:
        inp.consent("jutri", "--consent-at")
    assert str(caught.value) == (
        "--consent-at: 'jutri' is not a time; use 2026-03-01, 2026-03-01 14:30, an ISO 8601 "
        "time with zone, or 30m / 2h / 7d / 1w before now"
    )
    with pytest.raises(InvalidInput) as caught:
        inp.check_complete(
            inp.SubscriberData("7", None, None, "all", "sl", None, None, None, ()),
            hints=inp.CLI_HINTS,
        )
    assert str(caught.value) == (
        "a subscriber needs at least one channel: e-mail and/or phone (--email, --phone)"
    )


def test_a_csv_line_problem_keeps_its_structure() -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows, problems = inp.parse_csv("party;email\n7;ana@\n8;b@example.si\n", "x.csv", now=now)
    assert [r.line for r in rows] == [3]
    [bad] = problems
    assert bad.line == 2
    assert bad.message.startswith("column email: invalid e-mail address 'ana@': ")
    assert render(bad.problem, "sl") == "stolpec email: »ana@« ni veljaven e-poštni naslov"
    assert render(bad.problem, "it") == "colonna email: «ana@» non è un indirizzo e-mail valido"


def test_a_broken_template_is_worded_in_each_language() -> None:
    text = (
        '[[event_types]]\ncode = "VLOZ"\nkind = "notify"\n[event_types.templates.sl]\n'
        'email_subject = "s"\nemail_body = "b"\nsms = "Vloga {{ event.case_number"\n'
    )
    with pytest.raises(RulesError) as caught:
        parse_rules_text(text, "pravila.toml")
    [problem] = caught.value.problems
    assert str(problem).startswith(
        "pravila.toml: event type VLOZ, language 'sl': template 'sms': syntax error on line 1: "
    )
    assert render(problem, "sl").startswith(
        "pravila.toml: vrsta dogodka VLOZ, jezik »sl«: predloga »SMS«: skladenjska napaka v "
        "vrstici 1 ("
    )
    assert render(problem, "it").startswith(
        "pravila.toml: tipo di evento VLOZ, lingua «sl»: modello «SMS»: errore di sintassi alla "
        "riga 1 ("
    )


def test_listed_problems_join_as_clauses_and_values_as_a_list() -> None:
    with pytest.raises(InvalidInput) as caught:
        inp.parse_csv("telefon;telefon\n", "x.csv")
    assert str(caught.value) == (
        "x.csv: line 1 (header): unknown column(s) 'telefon', 'telefon' (known: party, email, "
        "phone, events, language, origin, reference, consent_at, cases); column(s) telefon more "
        "than once; the column party is missing; a column email or phone (or both) is needed"
    )
    [problem] = caught.value.problems
    assert render(problem, "sl").startswith(
        "x.csv, vrstica 1 (imena stolpcev): neznani stolpci 'telefon', 'telefon' (znani so: "
    )
    assert render(problem, "sl").endswith(
        "; stolpci telefon so navedeni večkrat; manjka stolpec party; potreben je stolpec email "
        "ali phone (ali oba)"
    )
    assert at("--party", Problem("rules.twice")).params["where"] == "--party"


def test_problems_compare_and_hash_by_code_and_parameters() -> None:
    one = at(Problem("csv.column", {"column": "email"}), Problem("contact.email_empty"))
    same = at(Problem("csv.column", {"column": "email"}), Problem("contact.email_empty"))
    other = at(Problem("csv.column", {"column": "phone"}), Problem("contact.email_empty"))
    assert one == same and hash(one) == hash(same)
    assert one != other
    assert len({one, same, other}) == 2


def test_the_consoles_field_labels_are_its_forms_labels() -> None:
    """A message names a field as the form beside it does."""
    form_label = {
        "party": "party_id",
        "events": "events_level",
        "origin": "how_subscribed",
    }
    for code in (c for c in CATALOGUE if c.startswith("field.")):
        field = code.removeprefix("field.")
        for lang in ("sl", "it"):
            assert CATALOGUE[code][lang] == TEXTS[lang][form_label.get(field, field)], (code, lang)
