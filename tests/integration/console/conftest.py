"""The console's fixtures for every test module here (tests/console_support.py holds them)."""

from tests.console_support import (  # noqa: F401 - fixtures, found by name
    certs,
    close_staff_browsers,
    console,
    console_settings,
    pki,
)
from tests.support_saml import sipass_idp  # noqa: F401 - a fixture
