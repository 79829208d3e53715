"""`obvo notifications release|cancel`: bad input is refused before anything is touched."""

from __future__ import annotations

import pytest

from vopi_obvo.cli import main


@pytest.mark.parametrize("action", ["release", "cancel"])
def test_an_empty_event_type_is_refused(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notifications", action, "--event-type", " "]) == 78
    assert "--event-type must name a VOPI event type code, e.g. KLAS" in capsys.readouterr().err


def test_cancel_needs_an_event_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notifications", "cancel"]) == 78
    assert "--event-type CODE" in capsys.readouterr().err


def test_release_needs_an_event_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["notifications", "release"])
    assert caught.value.code == 2
    assert "the following arguments are required: --event-type" in capsys.readouterr().err
