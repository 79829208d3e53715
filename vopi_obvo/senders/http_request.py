"""The request an HTTP SMS gateway expects, and where its reply keeps the message id. Pure.

Without configuration OBVO speaks its own small contract: `POST` JSON
`{"to", "text", "sender", "reference"}`, `Authorization: Bearer <token>`, the id at `id` of the
reply. A real provider wants its own shape; the administrator describes it with
`[sms] method`, `headers` ("Name: value", `{token}` filled in from `[sms] token`), `body` (a
Jinja template in which every `{{ value }}` is written as a JSON value, strings quoted and
escaped, so no text from a template can break the JSON) and `id_path` ("messages.0.messageId").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jinja2

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages import templates

DEFAULT_ID_PATH = "id"
SAMPLE_VALUES: dict[str, Any] = {
    "to": "+38640123456",
    "to_digits": "38640123456",
    "text": 'Vaša vloga "354-1/2026" je prejeta.\nŽ\\',
    "sender": "OBCINA",
    "reference": "1",
    "encoding": "ucs2",
    "segments": 1,
}


class RequestTemplateError(ValueError):
    """The configured body, headers or id path cannot work; the message says why."""


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    headers: dict[str, str]
    body: bytes


def _json_value(value: Any) -> str:
    """Every expression becomes a JSON literal: "text" with quotes and escapes, 3 as 3."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined: raises UndefinedError naming the value
    return json.dumps(value, ensure_ascii=False, default=str)


def compile_body(source: str) -> jinja2.Template:
    try:
        # No block trimming: a body's whitespace is the provider's, as written.
        return templates.compile_template(source, finalize=_json_value, trim_blocks=False)
    except TemplateError as exc:
        raise RequestTemplateError(str(exc)) from exc


def render_body(source: str, values: dict[str, Any]) -> bytes:
    """The request body: the template with JSON values, checked to be one JSON document."""
    try:
        text = compile_body(source).render(values)
    except jinja2.UndefinedError as exc:
        raise RequestTemplateError(
            f"{exc.message} (values: {', '.join(sorted(SAMPLE_VALUES))})"
        ) from exc
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        raise RequestTemplateError(str(exc)) from exc
    try:
        json.loads(text)
    except ValueError as exc:
        raise RequestTemplateError(f"does not give valid JSON: {exc}") from exc
    return text.encode("utf-8")


def default_body(values: dict[str, Any]) -> bytes:
    payload = {k: values[k] for k in ("to", "text", "sender", "reference")}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def parse_headers(lines: tuple[str, ...], token: str) -> dict[str, str]:
    """ "Name: value" lines → headers; `{token}` in a value becomes the configured token."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or any(c.isspace() for c in name) or not name.isascii():
            raise RequestTemplateError(f"header {line!r} is not 'Name: value'")
        headers[name] = value.strip().replace("{token}", token)
    return headers


def request_headers(header_lines: tuple[str, ...], token: str) -> dict[str, str]:
    """The headers of every request to the gateway (the same for all messages)."""
    headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
    configured = parse_headers(header_lines, token)
    lower = {k.lower() for k in configured}
    if token and "authorization" not in lower:
        headers["Authorization"] = f"Bearer {token}"
    return {k: v for k, v in headers.items() if k.lower() not in lower} | configured


def request_body(body_template: str, values: dict[str, Any]) -> bytes:
    """One message's request body: the configured template, or OBVO's own JSON."""
    return render_body(body_template, values) if body_template else default_body(values)


def build_request(
    *,
    method: str,
    header_lines: tuple[str, ...],
    body_template: str,
    token: str,
    values: dict[str, Any],
) -> GatewayRequest:
    return GatewayRequest(
        method=method,
        headers=request_headers(header_lines, token),
        body=request_body(body_template, values),
    )


def check_id_path(path: str) -> None:
    if not path or any(not part for part in path.split(".")):
        raise RequestTemplateError(f"{path!r} is not a dotted path such as messages.0.id")


def find_id(reply: bytes, path: str) -> str | None:
    """The value at `path` in a JSON reply ("messages.0.id": key, list index, key), or None."""
    try:
        node: Any = json.loads(reply or b"null")
    except ValueError:
        return None
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    if node is None or isinstance(node, dict | list):
        return None
    return str(node)
