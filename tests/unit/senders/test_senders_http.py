"""http_request.py: a real provider's request shape, JSON-safe bodies, the id in the reply."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vopi_obvo.config import settings_from_mapping
from vopi_obvo.errors import ConfigError
from vopi_obvo.senders.http_request import (
    SAMPLE_VALUES,
    RequestTemplateError,
    build_request,
    find_id,
    parse_headers,
    render_body,
)
from vopi_obvo.senders.sms_http import retry_after

INFOBIP_BODY = """
{"messages": [{"destinations": [{"to": {{ to_digits }}}],
  "from": {{ sender }}, "text": {{ text }}, "callbackData": {{ reference }}}]}
"""


def values(**overrides: Any) -> dict[str, Any]:
    return SAMPLE_VALUES | overrides


def test_default_request_is_the_core_contract() -> None:
    request = build_request(
        method="POST", header_lines=(), body_template="", token="t0k", values=values()
    )
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Bearer t0k"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(request.body) == {
        "to": "+38640123456",
        "text": SAMPLE_VALUES["text"],
        "sender": "OBCINA",
        "reference": "1",
    }


def test_no_token_no_authorization() -> None:
    request = build_request(
        method="POST", header_lines=(), body_template="", token="", values=values()
    )
    assert "Authorization" not in request.headers


def test_configured_headers_replace_defaults_case_insensitively() -> None:
    request = build_request(
        method="PUT",
        header_lines=("authorization: App {token}", "X-Tenant:  koper ", "Accept: */*"),
        body_template="",
        token="k3y",
        values=values(),
    )
    assert request.method == "PUT"
    assert request.headers["authorization"] == "App k3y"
    assert "Authorization" not in request.headers
    assert request.headers["X-Tenant"] == "koper"
    assert request.headers["Accept"] == "*/*"
    assert "Bearer" not in json.dumps(request.headers)


@given(text=st.text(max_size=300), sender=st.text(max_size=11))
def test_any_text_gives_valid_json_with_the_exact_text(text: str, sender: str) -> None:
    body = render_body(INFOBIP_BODY, values(text=text, sender=sender))
    data = json.loads(body)
    message = data["messages"][0]
    assert message["text"] == text
    assert message["from"] == sender
    assert message["destinations"] == [{"to": "38640123456"}]


def test_numbers_stay_numbers() -> None:
    body = render_body('{"parts": {{ segments }}, "ref": {{ reference }}}', values(segments=2))
    assert json.loads(body) == {"parts": 2, "ref": "1"}


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ('{"text": {{ txt }}}', "'txt' is undefined (values: encoding, reference, segments,"),
        ('{"text": "{{ text }}"}', "does not give valid JSON"),  # quotes around a quoted value
        ('{"text": {{ text }}', "does not give valid JSON"),
        ('{"text": {% if %}}', "syntax error on line 1"),
    ],
)
def test_bad_body_templates_are_explained(template: str, problem: str) -> None:
    with pytest.raises(RequestTemplateError) as info:
        render_body(template, SAMPLE_VALUES)
    assert problem in str(info.value)


@pytest.mark.parametrize("line", ["NoColon", ": empty", "Two Words: x", "Ž: x"])
def test_bad_header_lines(line: str) -> None:
    with pytest.raises(RequestTemplateError, match="is not 'Name: value'"):
        parse_headers((line,), "t")


@pytest.mark.parametrize(
    ("reply", "path", "found"),
    [
        (b'{"id": 17}', "id", "17"),
        (b'{"messages": [{"messageId": "ib-1"}]}', "messages.0.messageId", "ib-1"),
        (b'{"messages": []}', "messages.0.messageId", None),
        (b'{"messages": {"0": {"id": "x"}}}', "messages.0.id", "x"),  # a key that looks numeric
        (b'{"id": {"nested": 1}}', "id", None),  # not a scalar
        (b'{"id": null}', "id", None),
        (b"not json", "id", None),
        (b"", "id", None),
    ],
)
def test_find_id(reply: bytes, path: str, found: str | None) -> None:
    assert find_id(reply, path) == found


def sms_config(**sms: Any) -> dict[str, Any]:
    return {
        "database": {"url": "postgresql://db/obvo"},
        "source": {"events_query": "SELECT 1", "parties_query": "SELECT :case_ids"},
        "sms": {"backend": "http", "url": "https://api.example.eu/sms"} | sms,
    }


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"body": '{"t": "{{ text }}"}'}, "[sms] body: does not give valid JSON"),
        ({"headers": ["Bad header"]}, "[sms] headers: header 'Bad header' is not 'Name: value'"),
        ({"id_path": "messages..id"}, "[sms] id_path: 'messages..id' is not a dotted path"),
        ({"method": "GET"}, "[sms] method: must be one of 'POST', 'PUT'"),
        ({"headers": "X-A: b"}, "[sms] headers: must be a list of strings"),
    ],
)
def test_bad_http_gateway_settings_are_named(keys: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(sms_config(**keys), {})
    assert problem in str(info.value)


def test_provider_settings_and_token_from_the_environment() -> None:
    s = settings_from_mapping(
        sms_config(
            headers=["Authorization: App {token}"],
            body=INFOBIP_BODY,
            id_path="messages.0.messageId",
        ),
        {"OBVO_SMS_TOKEN": "secret-key"},
    )
    assert s.sms.token == "secret-key"
    assert s.sms.headers == ("Authorization: App {token}",)
    assert s.sms.id_path == "messages.0.messageId"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("7", 7.0), ("soon", None), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)],
)
def test_retry_after_in_seconds_or_as_a_date(value: str | None, seconds: float | None) -> None:
    assert retry_after(value) == seconds
