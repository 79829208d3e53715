"""Exceptions and the process exit codes systemd and scripts act on."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from vopi_obvo.problems import Problem


class ExitCode(enum.IntEnum):
    """Named exit codes; the unit's RestartPreventExitStatus lists CONFIG."""

    OK = 0
    FAILURE = 1  # a command ran and found a problem (check, status unhealthy, ...)
    USAGE = 2  # argparse's own code for bad command-line words
    UNAVAILABLE = 69  # EX_UNAVAILABLE: a database or server could not be reached
    CONFIG = 78  # EX_CONFIG: configuration, rules or input that will not fix itself


class ObvoError(Exception):
    """Base of every error OBVO reports to a person; str() is the message to show (English:
    the CLI's and the logs'). Raised with a Problem, `problems` holds it, for a page to word
    in its reader's language; raised with a plain text (the CLI's own), `problems` is empty."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str | Problem) -> None:
        self.problems: list[Problem] = [message] if isinstance(message, Problem) else []
        super().__init__(str(message))


class ConfigError(ObvoError):
    """The configuration file or environment is invalid."""

    exit_code = ExitCode.CONFIG


class RulesError(ObvoError):
    """A rules file or rule row is invalid; every problem is listed."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)

    @property
    def messages(self) -> list[str]:
        """The problems in English, one a line as the CLI prints them."""
        return [str(p) for p in self.problems]


class InvalidInput(ObvoError):
    """A value given on the command line (e-mail, phone, ...) is invalid."""

    exit_code = ExitCode.CONFIG


class SourceQueryError(ObvoError):
    """A configured VOPI query failed or returned the wrong columns."""

    exit_code = ExitCode.CONFIG


class TemplateError(ObvoError):
    """A template does not compile or cannot be rendered with the given values."""


class SourceUnavailable(ObvoError):
    """VOPI did not answer one of OBVO's queries (a statement timeout, a lost connection, a
    server error): VOPI's trouble, retried; OBVO's own state and its poller lock stay."""

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self, query: str, error: str) -> None:
        self.query = query
        self.error = error
        super().__init__(f"VOPI did not answer {query}: {error}")
