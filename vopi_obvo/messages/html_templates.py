"""HTML e-mail: the administrator's `email_html` templates and the layout around every HTML part.

Pure logic. Unlike the plain-text environment in templates.py, every value is HTML-escaped
here (autoescape): a case subject like `<b>Gradnja</b> & rušenje` arrives as text, never as
markup. The layout (config/email_layout.html, or `[email] html_layout`) frames the content with
the municipality's name and logo; without an `email_html` template the plain text becomes the
content, escaped, in paragraphs, with its web addresses as links.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages import templates
from vopi_obvo.resources import config_path

DEFAULT_LAYOUT = "email_layout.html"
_URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]»]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def compile_html(source: str) -> jinja2.Template:
    """Compiled with the shared sandboxed environment, autoescape on."""
    return templates.compile_template(source, autoescape=True)


def render_html(source: str, context: Mapping[str, Any]) -> str:
    """An `email_html` template with every value escaped; errors as in templates.render."""
    return templates.render(source, context, autoescape=True)


def _linked(text: str) -> str:
    """`text` escaped, with http(s) addresses as links (the text itself is never markup).
    Plain string work: this runs for every e-mail without an `email_html` template."""
    if "http" not in text:  # most texts: nothing to link
        return str(escape(text))
    pieces: list[str] = []
    position = 0
    for match in _URL_RE.finditer(text):
        url = str(escape(match.group(0)))
        pieces += [str(escape(text[position : match.start()])), f'<a href="{url}">{url}</a>']
        position = match.end()
    pieces.append(str(escape(text[position:])))
    return "".join(pieces)


def text_to_html(text: str) -> Markup:
    """Plain text as HTML paragraphs: blank lines separate paragraphs, line breaks stay.
    Addresses never span lines (the pattern excludes whitespace), so a paragraph is linked
    whole and its line breaks become <br> afterwards."""
    paragraphs = [p.strip("\n") for p in _PARAGRAPH_BREAK.split(text.strip())]
    return Markup(  # noqa: S704 - every piece of the text was escaped by _linked
        "\n".join(
            "<p>" + _linked(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs if p.strip()
        )
    )


def layout_source(path: str) -> str:
    """The layout's text: `path` if configured, else the one shipped in config/."""
    file = Path(path) if path else config_path(DEFAULT_LAYOUT)
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"e-mail layout {file}: cannot be read: {exc.strerror}") from exc


def render_layout(
    source: str,
    *,
    content: Markup,
    subject: str,
    organisation: str,
    logo_url: str,
    unsubscribe_url: str | None,
    language: str = "sl",
) -> str:
    """A whole HTML document: the layout with `content` (already safe HTML) inside."""
    return render_html(
        source,
        {
            "content": content,
            "subject": subject,
            "organisation": organisation,
            "logo_url": logo_url,
            "unsubscribe_url": unsubscribe_url,
            "language": language,
        },
    )
