"""The portal's fixtures for every test module here (tests/portal_support.py holds them)."""

from tests.portal_support import (  # noqa: F401 - fixtures, found by name
    close_browsers,
    janez_pem,
    pki,
    portal,
    portal_settings,
)
from tests.support_saml import sipass_idp  # noqa: F401 - a fixture
