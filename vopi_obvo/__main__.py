from __future__ import annotations

from vopi_obvo.cli import main

raise SystemExit(main())
