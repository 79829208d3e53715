"""The JSON API and the SMS delivery-report webhook over HTTP, every refusal included."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests import portal_support as ps
from tests.integration.test_pipeline import subscribe
from tests.portal_support import API_TOKEN, SMS_STATUS_SECRET, PortalServer, rows
from tests.support import Vopi
from vopi_obvo.config import Settings

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
HOOK = {"Authorization": f"Bearer {SMS_STATUS_SECRET}"}


def audit(settings: Settings) -> list[tuple[Any, ...]]:
    return rows(
        settings, "SELECT actor, action, outcome, party_id FROM obvo.portal_audit ORDER BY id"
    )


def test_openapi_document_describes_the_api(portal: PortalServer) -> None:
    with portal.client() as http:
        doc = http.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/v1/subscriptions",
        "/api/v1/subscriptions/{party_id}",
        "/api/v1/subscriptions/{party_id}/notifications",
        "/hooks/sms-status",
    }
    assert "HTTPBearer" in doc["components"]["securitySchemes"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {API_TOKEN}"}],
    ids=["none", "unknown", "not-bearer"],
)
def test_calls_without_a_valid_token_are_refused_and_audited(
    portal: PortalServer, portal_settings: Settings, headers: dict[str, str]
) -> None:
    with portal.client() as http:
        answer = http.get("/api/v1/subscriptions/42", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "API token" in answer.json()["error"]
    assert audit(portal_settings) == [("api:unknown", "api.read", "refused", "42")]


def test_the_municipal_portal_manages_a_subscription(
    portal: PortalServer, portal_settings: Settings, vopi: Vopi
) -> None:
    party = str(vopi.party())
    with portal.client(headers=AUTH) as http:
        assert http.get(f"/api/v1/subscriptions/{party}").status_code == 404
        created = http.post(
            "/api/v1/subscriptions",
            json={"party_id": party, "phone": "041 123 456", "events": "key"},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["phone"] == "+38641123456"
        assert body["origin"] == "e_vloga"
        assert body["consent_at"] is not None
        again = http.post("/api/v1/subscriptions", json={"party_id": party, "email": "a@b.si"})
        assert again.status_code == 409
        changed = http.patch(
            f"/api/v1/subscriptions/{party}",
            json={"email": "Ana@Example.si", "events": "all", "key_only_channels": ["email"]},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["email"] == "Ana@example.si"
        assert changed.json()["key_only_channels"] == ["email"]
        assert http.get(f"/api/v1/subscriptions/{party}").json()["events"] == "all"
        listed = http.get(f"/api/v1/subscriptions/{party}/notifications")
        assert listed.status_code == 200
        assert listed.json() == []
        assert http.delete(f"/api/v1/subscriptions/{party}").status_code == 204
        assert http.delete(f"/api/v1/subscriptions/{party}").status_code == 404
    actions = [(a[1], a[2]) for a in audit(portal_settings)]
    assert actions == [
        ("api.read", "refused"),
        ("api.create", "ok"),
        ("api.create", "refused"),
        ("api.change", "ok"),
        ("api.read", "ok"),
        ("api.notifications", "ok"),
        ("api.delete", "ok"),
        ("api.remove", "refused"),
    ]
    assert all(a[0] == "api:koper-portal" for a in audit(portal_settings))


@pytest.mark.parametrize(
    ("method", "path", "payload", "field", "text"),
    [
        (
            "post",
            "/api/v1/subscriptions",
            {"party_id": "7", "email": "not-an-address"},
            "email",
            "invalid e-mail address",
        ),
        (
            "post",
            "/api/v1/subscriptions",
            {"party_id": "7", "phone": "041 ABC"},
            "phone",
            "letters are not allowed",
        ),
        ("post", "/api/v1/subscriptions", {"party_id": "7"}, None, "at least one channel"),
        (
            "post",
            "/api/v1/subscriptions",
            {"party_id": "7", "email": "a@b.si", "events": "some"},
            "events",
            "events",
        ),
        (
            "post",
            "/api/v1/subscriptions",
            {"party_id": "7", "email": "a@b.si", "language": "SLO"},
            "language",
            "language",
        ),
        (
            "post",
            "/api/v1/subscriptions",
            {"party_id": "", "email": "a@b.si"},
            "party_id",
            "party_id",
        ),
        (
            "post",
            "/api/v1/subscriptions",
            {"party_id": "7", "email": "a@b.si", "colour": "red"},
            "colour",
            "colour",
        ),
        ("patch", "/api/v1/subscriptions/{party}", {"email": None}, "email", "at least one"),
        ("patch", "/api/v1/subscriptions/{party}", {"events": None}, "events", "null"),
        (
            "patch",
            "/api/v1/subscriptions/{party}",
            {"key_only_channels": ["fax"]},
            "key_only_channels.0",
            "key_only_channels",
        ),
    ],
)
def test_invalid_input_names_the_field_and_changes_nothing(
    portal: PortalServer,
    portal_settings: Settings,
    vopi: Vopi,
    method: str,
    path: str,
    payload: dict[str, Any],
    field: str | None,
    text: str,
) -> None:
    party = vopi.party()
    subscribe(portal_settings, party, email="janez@example.si")
    before = rows(portal_settings, "SELECT * FROM obvo.subscribers")
    with portal.client(headers=AUTH) as http:
        answer = getattr(http, method)(path.format(party=party), json=payload)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert text in answer.json()["error"]
    assert rows(portal_settings, "SELECT * FROM obvo.subscribers") == before
    [(actor, _, outcome, _)] = audit(portal_settings)
    assert (actor, outcome) == ("api:koper-portal", "refused")


# ---- delivery reports ----


@pytest.fixture
def sms(portal_settings: Settings, vopi: Vopi) -> dict[str, int]:
    """Three notifications of one subscriber: an SMS sent, an SMS pending, an e-mail sent."""
    party = vopi.party()
    sub = subscribe(portal_settings, party, email="janez@example.si", phone="+38641123456")
    ids: dict[str, int] = {}
    with psycopg.connect(portal_settings.database.url, autocommit=True) as conn:
        for name, channel, status, provider in (
            ("sent", "sms", "sent", "gw-1"),
            ("pending", "sms", "pending", None),
            ("email", "email", "sent", "<x@y>"),
        ):
            row = conn.execute(
                "INSERT INTO obvo.notifications (source_event_id, subscriber_id, channel,"
                " event_type, event_kind, language, recipient, body, status, provider_id)"
                " VALUES (%s, %s, %s, 'KLAS', 'key', 'sl', 'x', 'b', %s, %s) RETURNING id",
                (len(ids) + 1, sub, channel, status, provider),
            ).fetchone()
            assert row is not None
            ids[name] = int(row[0])
    return ids


def status_of(settings: Settings, notification_id: int) -> tuple[Any, ...]:
    [row] = rows(
        settings,
        "SELECT status, delivery_error, delivered_at IS NOT NULL FROM obvo.notifications"
        " WHERE id = %s",
        notification_id,
    )
    return row


def test_delivery_reports_move_sms_to_delivered_idempotently(
    portal: PortalServer, portal_settings: Settings, sms: dict[str, int]
) -> None:
    with portal.client(headers=HOOK) as http:
        first = http.post("/hooks/sms-status", json={"reference": sms["sent"], "status": "DELIVRD"})
        assert first.status_code == 200
        assert first.json() == {
            "notification_id": sms["sent"],
            "status": "delivered",
            "changed": True,
        }
        repeat = http.post(
            "/hooks/sms-status", json={"reference": sms["sent"], "status": "DELIVRD"}
        )
        assert repeat.status_code == 200
        assert repeat.json()["changed"] is False
        late = http.post(
            "/hooks/sms-status", json={"reference": sms["sent"], "status": "undelivered"}
        )
        assert late.json() == {
            "notification_id": sms["sent"],
            "status": "delivered",
            "changed": False,
        }
    assert status_of(portal_settings, sms["sent"]) == ("delivered", None, True)
    assert rows(portal_settings, "SELECT count(*) FROM obvo.sms_status_reports") == [(2,)]


def test_undelivered_by_the_gateways_id_and_by_form_post(
    portal: PortalServer, portal_settings: Settings, sms: dict[str, int]
) -> None:
    with portal.client(headers={"X-Obvo-Secret": SMS_STATUS_SECRET}) as http:
        answer = http.post(
            "/hooks/sms-status", data={"id": "gw-1", "status": "EXPIRED", "error": "absent"}
        )
        assert answer.status_code == 200, answer.text
        transit = http.post("/hooks/sms-status", data={"id": "gw-1", "status": "buffered"})
        assert transit.status_code == 202
        code = http.post("/hooks/sms-status", data={"reference": "-12", "status": "delivered"})
        assert code.json()["result"] == "ignored"
    assert status_of(portal_settings, sms["sent"]) == ("undelivered", "absent", False)


@pytest.mark.parametrize(
    ("headers", "body", "status", "text"),
    [
        ({}, {"reference": 1, "status": "delivered"}, 401, "secret"),
        (
            {"Authorization": "Bearer wrong-secret-value"},
            {"reference": 1, "status": "delivered"},
            401,
            "secret",
        ),
        (HOOK, {"reference": "abc", "status": "delivered"}, 422, "reference"),
        (HOOK, {"status": "delivered"}, 422, "reference"),
        (HOOK, {"reference": "{sent}"}, 422, "status"),
        (HOOK, {"reference": "{sent}", "status": "teleported"}, 422, "unknown status"),
        (HOOK, {"reference": 999999, "status": "delivered"}, 404, "no such notification"),
        (HOOK, {"reference": "{email}", "status": "delivered"}, 422, "not an SMS"),
        (HOOK, {"reference": "{pending}", "status": "delivered"}, 409, "not sent yet"),
        (
            HOOK,
            {"reference": "{sent}", "id": "gw-other", "status": "delivered"},
            409,
            "does not match",
        ),
    ],
    ids=[
        "no-secret",
        "wrong-secret",
        "bad-reference",
        "no-reference",
        "no-status",
        "unknown-status",
        "unknown-notification",
        "not-sms",
        "not-sent-yet",
        "id-mismatch",
    ],
)
def test_bad_delivery_reports_are_refused_and_audited(
    portal: PortalServer,
    portal_settings: Settings,
    sms: dict[str, int],
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
    text: str,
) -> None:
    payload = {k: (v.format(**sms) if isinstance(v, str) else v) for k, v in body.items()}
    with portal.client(headers=headers) as http:
        answer = http.post("/hooks/sms-status", json=payload)
    assert answer.status_code == status, answer.text
    assert text in answer.json()["error"]
    assert status_of(portal_settings, sms["sent"])[0] == "sent"
    assert rows(portal_settings, "SELECT action, outcome FROM obvo.portal_audit") == [
        ("hook.sms_status", "refused")
    ]


def test_malformed_report_bodies_are_refused(portal: PortalServer) -> None:
    with portal.client(headers=HOOK) as http:
        assert (
            http.post(
                "/hooks/sms-status", content=b"{", headers={"Content-Type": "application/json"}
            ).status_code
            == 400
        )
        assert (
            http.post(
                "/hooks/sms-status", content=b"x", headers={"Content-Type": "text/plain"}
            ).status_code
            == 415
        )
        assert http.post("/hooks/sms-status", json=[1, 2]).status_code == 422


def test_the_hook_is_off_without_a_secret(make_settings: Any, pki: ps.Pki) -> None:
    settings = make_settings(**ps.portal_overrides(pki, portal__sms_status_secret=""))
    with ps.running_portal(settings) as server, server.client() as http:
        answer = http.post("/hooks/sms-status", json={"reference": 1, "status": "delivered"})
    assert answer.status_code == 404
    assert isinstance(answer, httpx.Response)
