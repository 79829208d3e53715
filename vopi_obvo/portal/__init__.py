"""The citizens' self-service portal and API (`obvo portal`).

Built on FastAPI (Starlette underneath) rather than bare Starlette: the JSON API's request and
response models are pydantic classes, so validation, error messages and the OpenAPI document
served at /api/openapi.json all come from one definition and cannot drift apart; the HTML
pages use the same routing with plain forms (`python-multipart`) and Jinja2 templates. It runs
on uvicorn behind a TLS reverse proxy that verifies the citizen's qualified certificate
(docs/portal.md).

Modules: settings (the [portal] section), context (shared state, sessions), codes (one-time
codes), changes (changes that wait for a code), forms (pure validation), pages (one router per
page), api, webhook (SMS delivery reports), app (headers, cookies, errors), server (the
command). Certificates are read by vopi_obvo.web.certificates, shared with the console.
"""

from __future__ import annotations

from vopi_obvo.portal.server import register

__all__ = ["register"]
