"""Redirect after a change: a form that changed something answers 303 to the page to look at
next, and that page says what was done, once. The notice waits in the session's row (never in
the URL: it may name a party), as text keys and values, so it is shown in the language of the
page that shows it; a reload of that page shows neither the notice nor repeats the change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import RedirectResponse
from starlette.requests import Request

from vopi_obvo.console.context import Console, Signed
from vopi_obvo.console.texts import Translator
from vopi_obvo.queries import q


@dataclass(frozen=True)
class Notice:
    """Sentences (text key, values), worded when shown; and for a CSV import the lines it
    refused, worded already (in the language of the page that sent the file)."""

    texts: Sequence[tuple[str, dict[str, Any]]]
    rows: Sequence[tuple[int, str]] = field(default_factory=tuple)

    def text(self, t: Translator) -> str:
        return " ".join(t(key, **values) for key, values in self.texts)

    def as_json(self) -> str:
        return json.dumps(
            {
                "texts": [[k, v] for k, v in self.texts],
                "rows": [list(row) for row in self.rows],
            },
            ensure_ascii=False,
            default=str,
        )

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> Notice:
        texts = [(str(k), dict(v)) for k, v in data.get("texts", [])]
        rows = [(int(line), str(text)) for line, text in data.get("rows", [])]
        return cls(texts, rows)


def notice(key: str, **values: Any) -> Notice:
    return Notice([(key, values)])


def _session(console: Console, request: Request, signed: Signed) -> dict[str, Any] | None:
    """This member's session of the request (not one another certificate left in the
    browser, not one started by this very request: it has nothing waiting)."""
    token = request.cookies.get(console.cookie_name, "")
    if not token or getattr(request.state, "new_session", None):
        return None
    return {"token_hash": console.session_hash(token), "staff_id": signed.member.id}


def after_change(
    console: Console, request: Request, signed: Signed, path: str, said: Notice
) -> RedirectResponse:
    """303 to `path`, whose page will show `said`."""
    session = _session(console, request, signed)
    if session is not None:
        with console.engine.begin() as conn:
            conn.execute(q("console_put_notice"), {**session, "notice": said.as_json()})
    return RedirectResponse(path, status_code=303)


def take(console: Console, request: Request, signed: Signed) -> Notice | None:
    """The session's waiting notice, cleared; None when there is none."""
    session = _session(console, request, signed)
    if session is None:
        return None
    with console.engine.begin() as conn:
        found = conn.execute(q("console_take_notice"), session).scalar()
    return None if found is None else Notice.of_json(found)
