"""What the settings and subscription forms mean: pure validation and planning.

Errors map a form field to a text key (texts.py), shown beside the field. A new e-mail address
or number is never stored here: it becomes a change waiting for its confirmation code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vopi_obvo.errors import InvalidInput
from vopi_obvo.messages.contacts import normalise_email, normalise_phone
from vopi_obvo.portal.texts import LANGUAGES
from vopi_obvo.subscribers import SubscriberRecord as Subscription

LEVELS = ("all", "key")


def _on(form: Mapping[str, str], name: str) -> bool:
    return form.get(name, "") in ("on", "1", "true", "yes")


@dataclass(frozen=True)
class SettingsPlan:
    email: str | None  # stored now
    phone: str | None
    events: str
    language: str
    key_only_channels: tuple[str, ...]
    confirm_email: str | None  # waits for its code
    confirm_phone: str | None
    # A channel switched off in the same change that adds a new one: it stays until the new
    # one is confirmed, so the subscription never has no channel at all.
    drop_after_confirm: str | None


@dataclass(frozen=True)
class SubscribePlan:
    email: str | None
    phone: str | None
    events: str
    language: str


def _email(form: Mapping[str, str], errors: dict[str, str]) -> str | None:
    text = form.get("email", "").strip()
    if not text:
        errors["email"] = "err_email_required"
        return None
    try:
        return normalise_email(text)
    except InvalidInput:
        errors["email"] = "err_email_invalid"
        return None


def _phone(form: Mapping[str, str], errors: dict[str, str]) -> str | None:
    text = form.get("phone", "").strip()
    if not text:
        errors["phone"] = "err_phone_required"
        return None
    try:
        return normalise_phone(text)
    except InvalidInput:
        errors["phone"] = "err_phone_invalid"
        return None


def _level_and_language(form: Mapping[str, str], errors: dict[str, str]) -> tuple[str, str]:
    events = form.get("events", "")
    if events not in LEVELS:
        errors["events"] = "err_level"
    language = form.get("language", "")
    if language not in LANGUAGES:
        errors["language"] = "err_language"
    return events, language


def plan_settings(
    form: Mapping[str, str], current: Subscription
) -> tuple[SettingsPlan | None, dict[str, str]]:
    errors: dict[str, str] = {}
    email_on, sms_on = _on(form, "email_on"), _on(form, "sms_on")
    if not email_on and not sms_on:
        errors["channels"] = "err_no_channel"
    email = _email(form, errors) if email_on else None
    phone = _phone(form, errors) if sms_on else None
    events, language = _level_and_language(form, errors)
    if errors:
        return None, errors
    confirm_email = email if email and email != current.email else None
    confirm_phone = phone if phone and phone != current.phone else None
    keep_email = current.email if email_on else None
    keep_phone = current.phone if sms_on else None
    drop = None
    if keep_email is None and keep_phone is None:
        # Everything active now waits for a code: keep the old channel until then.
        if current.email and not email_on:
            keep_email, drop = current.email, "email"
        elif current.phone and not sms_on:
            keep_phone, drop = current.phone, "sms"
        else:
            keep_email, keep_phone = current.email, current.phone
    key_only = tuple(
        channel
        for channel, on in (("email", email_on), ("sms", sms_on))
        if on and _on(form, f"{channel}_key_only")
    )
    return (
        SettingsPlan(
            email=keep_email,
            phone=keep_phone,
            events=events,
            language=language,
            key_only_channels=key_only,
            confirm_email=confirm_email,
            confirm_phone=confirm_phone,
            drop_after_confirm=drop,
        ),
        {},
    )


def plan_subscribe(form: Mapping[str, str]) -> tuple[SubscribePlan | None, dict[str, str]]:
    errors: dict[str, str] = {}
    email_text, phone_text = form.get("email", "").strip(), form.get("phone", "").strip()
    if not email_text and not phone_text:
        errors["channels"] = "err_no_channel"
    email = _email(form, errors) if email_text else None
    phone = _phone(form, errors) if phone_text else None
    events, language = _level_and_language(form, errors)
    if not _on(form, "consent"):
        errors["consent"] = "err_consent"
    if errors:
        return None, errors
    return SubscribePlan(email=email, phone=phone, events=events, language=language), {}
