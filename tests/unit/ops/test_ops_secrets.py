"""`obvo check` warns about world-readable files holding secrets."""

from __future__ import annotations

from pathlib import Path

from vopi_obvo.ops.file_secrets import dotenv_secrets, exposed_secrets, toml_secrets


def test_secret_keys_and_passwords_in_urls_are_found() -> None:
    document = {
        "database": {"url": "postgresql://obvo:s3cret@db/vopi", "schema": "obvo"},
        "source": {"url": "postgresql://reader@db/vopi"},
        "email": {"password": "x", "username": "obvo"},
        "sms": {"token": "", "url": "https://gw.example/send"},
        "portal": {"session_secret": "y", "api_tokens": ["a:sha256:b"]},
    }
    assert toml_secrets(document) == [
        "[database] url",
        "[email] password",
        "[portal] session_secret",
        "[portal] api_tokens",
    ]
    assert dotenv_secrets(
        {"OBVO_SMS_TOKEN": "t", "OBVO_DATABASE_URL": "postgresql://o@db/v", "OBVO_X": None}
    ) == ["OBVO_SMS_TOKEN"]


def test_only_world_readable_files_with_secrets_are_named(tmp_path: Path) -> None:
    config = tmp_path / "obvo.toml"
    config.write_text('[email]\npassword = "geslo"\n', encoding="utf-8")
    dotenv = tmp_path / ".env"
    dotenv.write_text("OBVO_SMS_TOKEN=abc\n", encoding="utf-8")
    config.chmod(0o644)
    dotenv.chmod(0o600)
    [warning] = exposed_secrets(config)
    assert warning.startswith(f"{config} can be read by every user of this machine (mode 0644)")
    assert "holds [email] password: chmod 640" in warning
    dotenv.chmod(0o604)
    assert [w.split(" can be")[0] for w in exposed_secrets(config)] == [str(config), str(dotenv)]
    config.chmod(0o640)
    dotenv.chmod(0o600)
    assert exposed_secrets(config) == []
    # Readable by all, but nothing secret in it: nothing to say.
    config.write_text('[email]\nusername = "obvo"\n', encoding="utf-8")
    config.chmod(0o644)
    assert exposed_secrets(config) == []
    assert exposed_secrets(None) == []
