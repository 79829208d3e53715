"""The staff's intranet console (`obvo console`): everything the administrative CLI does, in a
browser, with the same validation and audit rows (actor = the staff member).

FastAPI on uvicorn like the portal, on its own listener behind the intranet proxy that
verifies employee certificates (docs/console.md). Modules: settings (the [console] section),
roles (pure), staff (the staff table, shared with the CLI), context (who is asking, sessions),
views (layout, rendering), charts and figures (the overview's SVG charts), pages/ (one router
per page group), app (errors, headers, cookies), server (the command).
"""

from __future__ import annotations

from vopi_obvo.console.server import register

__all__ = ["register"]
