"""What the HTML pages of the portal and the console share: the Jinja environment of their
templates (with the shared page layout, web/templates/) and the language a request asks for."""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.requests import Request

from vopi_obvo.web.language import LANG_COOKIE, from_accept_language, pick_language

# The page both sites build on (layout.html): each site's base.html gives it its own look.
SHARED_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def page_environment(template_dir: Path) -> jinja2.Environment:
    """The Jinja environment of a site's HTML pages: the site's own templates, then the shared
    ones; autoescaped, strict about names."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([template_dir, SHARED_TEMPLATE_DIR]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def request_language(request: Request) -> str:
    """The page's language: ?lang=, else the cookie, else the browser's Accept-Language."""
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        from_accept_language(request.headers.get("accept-language")),
    )
