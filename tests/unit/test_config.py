"""config.py: TOML + .env + environment → typed, checked Settings; every problem is named."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from vopi_obvo.config import DatabaseSettings, Settings, load_settings, settings_from_mapping
from vopi_obvo.errors import ConfigError, ExitCode

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "obvo.example.toml"
DB_URL = "postgresql://obvo@db.example/obvo"
MINIMAL_TOML = f"""
[database]
url = "{DB_URL}"
[source]
events_query = "SELECT 1 AS event_id"
parties_query = "SELECT 1 AS case_id, 2 AS party_id WHERE 1 IN :case_ids"
"""


@pytest.fixture(scope="module")
def example_text() -> str:
    return EXAMPLE_CONFIG.read_text(encoding="utf-8")


@pytest.fixture
def raw(example_text: str) -> dict[str, Any]:
    """The example config as a deployer would start from it, with database.url set."""
    parsed = tomllib.loads(example_text)
    parsed["database"]["url"] = DB_URL
    return parsed


def config_error(raw: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(raw, env or {})
    return str(info.value)


# ---- the example file ----


def test_example_config_gives_the_documented_values(raw: dict[str, Any]) -> None:
    s = settings_from_mapping(raw, {})
    assert s.database.url == DB_URL
    assert s.database.schema == "obvo"
    assert s.source.url == ""
    assert s.source.start == "latest"
    assert s.source.start_event_id is None
    assert s.source.poll_interval == 1.0
    assert s.source.batch_size == 500
    assert s.source.hole_max_age == 3600.0
    assert s.source.statement_timeout == 10.0
    assert "FROM vopi.event_log e" in s.source.events_query
    assert ":case_ids" in s.source.parties_query
    assert s.email.host == "127.0.0.1"
    assert s.email.port == 25
    assert s.email.security == "none"
    assert s.email.sender == "Mestna občina Koper <obvestila@koper.si>"
    assert s.sms.backend == "log"
    assert s.sms.token == ""
    assert s.sms.sender == "KOPER"
    assert s.delivery.retry_initial_delay == 30.0
    assert s.delivery.retry_max_delay == 3600.0
    assert s.delivery.max_attempts == 10
    assert s.delivery.batch_size == 100
    assert s.delivery.stale_worker_after == 60.0
    assert s.logging.level == "info"
    assert s.logging.format == "auto"
    assert s.path is None


def test_types_are_coerced_to_the_declared_types(raw: dict[str, Any]) -> None:
    raw["source"]["poll_interval"] = 2  # an int where a float is declared
    s = settings_from_mapping(raw, {})
    assert s.source.poll_interval == 2.0
    assert isinstance(s.source.poll_interval, float)
    assert isinstance(s.email.port, int)


def test_source_url_falls_back_to_the_database_url(raw: dict[str, Any]) -> None:
    assert settings_from_mapping(raw, {}).source_url == DB_URL
    raw["source"]["url"] = "postgresql://reader@vopi.example/vopi"
    assert settings_from_mapping(raw, {}).source_url == "postgresql://reader@vopi.example/vopi"


def test_source_url_of_default_settings_is_the_database_url() -> None:
    assert Settings().source_url == ""
    assert Settings(database=DatabaseSettings(url=DB_URL)).source_url == DB_URL


# ---- environment overrides ----


def test_environment_wins_over_the_file(raw: dict[str, Any]) -> None:
    env = {
        "OBVO_DATABASE_URL": "postgresql+psycopg://env@other.example/obvo",
        "OBVO_EMAIL_PORT": "2525",
        "OBVO_SMS_TOKEN": "s3cret",
        "OBVO_SOURCE_POLL_INTERVAL": "0.25",
        "OBVO_EMAIL_SECURITY": "starttls",
    }
    s = settings_from_mapping(raw, env)
    assert s.database.url == "postgresql+psycopg://env@other.example/obvo"
    assert s.email.port == 2525
    assert isinstance(s.email.port, int)
    assert s.sms.token == "s3cret"
    assert s.source.poll_interval == 0.25
    assert s.email.security == "starttls"
    # the file's values stay where the environment says nothing
    assert s.email.host == "127.0.0.1"


def test_environment_can_supply_a_missing_database_url(raw: dict[str, Any]) -> None:
    del raw["database"]["url"]
    s = settings_from_mapping(raw, {"OBVO_DATABASE_URL": DB_URL})
    assert s.database.url == DB_URL


def test_bad_environment_value_names_the_variable(raw: dict[str, Any]) -> None:
    message = config_error(raw, {"OBVO_EMAIL_PORT": "twenty-five"})
    assert "environment variable OBVO_EMAIL_PORT: must be a whole number, not 'twenty-five'" in (
        message
    )


def test_unrelated_environment_variables_are_ignored(raw: dict[str, Any]) -> None:
    s = settings_from_mapping(raw, {"PATH": "/usr/bin", "OBVO_CONFIG": "/etc/obvo.toml"})
    assert s.email.port == 25


# ---- unknown names, wrong types ----


def test_unknown_section_is_named(raw: dict[str, Any]) -> None:
    raw["smtp"] = {"host": "mail.example"}
    message = config_error(raw)
    assert "unknown section [smtp]" in message
    assert "known: database, source, email, sms, sms_fallback, delivery, logging" in message


def test_unknown_key_is_named_with_its_section(raw: dict[str, Any]) -> None:
    raw["email"]["prot"] = 25
    message = config_error(raw)
    assert "[email] unknown key 'prot'" in message
    assert "port" in message.split("unknown key 'prot'")[1]  # the known keys are listed


def test_section_that_is_not_a_table(raw: dict[str, Any]) -> None:
    raw["logging"] = "debug"
    assert "[logging] must be a table" in config_error(raw)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("email", "port", "x", "[email] port: must be a whole number, not 'x'"),
        ("email", "port", 25.5, "[email] port: must be a whole number, not 25.5"),
        ("email", "port", True, "[email] port: must be a whole number, not True"),
        ("source", "poll_interval", True, "[source] poll_interval: must be a number, not True"),
        ("source", "poll_interval", "1", "[source] poll_interval: must be a number, not '1'"),
        ("email", "host", ["a"], "[email] host: must be a string, not ['a']"),
        (
            "email",
            "security",
            "ssl",
            "[email] security: must be one of 'none', 'starttls', 'tls', not 'ssl'",
        ),
        (
            "sms",
            "backend",
            "kannel",
            "[sms] backend: must be one of 'http', 'log', 'smpp', not 'kannel'",
        ),
        (
            "logging",
            "level",
            "trace",
            "[logging] level: must be one of 'debug', 'info', 'warning', 'error', not 'trace'",
        ),
    ],
)
def test_wrong_type_or_value_is_named(
    raw: dict[str, Any], section: str, key: str, value: Any, expected: str
) -> None:
    raw[section][key] = value
    assert expected in config_error(raw)


def test_every_problem_is_listed_at_once(raw: dict[str, Any]) -> None:
    raw["email"]["port"] = "x"
    raw["email"]["security"] = "ssl"
    raw["source"]["poll_interval"] = True
    raw["bogus"] = {}
    message = config_error(raw)
    assert message.startswith("configuration: invalid configuration:\n")
    problems = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(problems) == 4


def test_config_error_exit_code_is_78() -> None:
    assert ConfigError("x").exit_code is ExitCode.CONFIG
    assert int(ExitCode.CONFIG) == 78


# ---- semantic checks ----


def test_database_url_is_required(raw: dict[str, Any]) -> None:
    del raw["database"]["url"]
    assert "[database] url is required (or set OBVO_DATABASE_URL)" in config_error(raw)


@pytest.mark.parametrize("url", ["mysql://x@y/z", "sqlite:///obvo.db", "127.0.0.1"])
def test_database_url_must_be_postgres(raw: dict[str, Any], url: str) -> None:
    raw["database"]["url"] = url
    assert "[database] url must start with postgresql://" in config_error(raw)


@pytest.mark.parametrize("url", ["sqlite:///vopi.db", "oracle://vopi@db/x", "127.0.0.1"])
def test_source_url_must_be_an_engine_obvo_reads(raw: dict[str, Any], url: str) -> None:
    raw["source"]["url"] = url
    assert "[source] url must start with postgresql://" in config_error(raw)
    assert "mysql+pymysql://" in config_error(raw)


@pytest.mark.parametrize(
    "url", ["mysql+pymysql://obvo@vopi/vopi", "mariadb://obvo@vopi/vopi", "postgres://x@y/z"]
)
def test_source_url_may_be_mariadb_or_mysql(raw: dict[str, Any], url: str) -> None:
    raw["source"]["url"] = url
    assert settings_from_mapping(raw, {}).source.url == url


@pytest.mark.parametrize("zone", ["Europe/Atlantis", "", "+02:00"])
def test_source_timezone_must_be_a_zone_name(raw: dict[str, Any], zone: str) -> None:
    raw["source"]["timezone"] = zone
    assert "[source] timezone must be a time zone name" in config_error(raw)


@pytest.mark.parametrize("schema", ["Obvo", "obvo-x", "1obvo", ""])
def test_schema_must_be_a_lower_case_identifier(raw: dict[str, Any], schema: str) -> None:
    raw["database"]["schema"] = schema
    assert "[database] schema must be a lower-case SQL identifier" in config_error(raw)


@pytest.mark.parametrize("value", ["", "   \n  "])
def test_events_query_is_required(raw: dict[str, Any], value: str) -> None:
    raw["source"]["events_query"] = value
    assert "[source] events_query is required" in config_error(raw)


def test_missing_events_query_key(raw: dict[str, Any]) -> None:
    del raw["source"]["events_query"]
    assert "[source] events_query is required" in config_error(raw)


def test_parties_query_is_required(raw: dict[str, Any]) -> None:
    del raw["source"]["parties_query"]
    message = config_error(raw)
    assert "[source] parties_query is required" in message
    assert ":case_ids" not in message


def test_parties_query_must_use_case_ids(raw: dict[str, Any]) -> None:
    raw["source"]["parties_query"] = "SELECT case_id, party_id FROM vopi.application_parties"
    message = config_error(raw)
    assert "[source] parties_query must use the parameter :case_ids" in message


@pytest.mark.parametrize(
    ("value", "stored", "event_id"),
    [
        ("latest", "latest", None),
        ("earliest", "earliest", None),
        ("123", "123", 123),
        (123, "123", 123),
        (0, "0", 0),
    ],
)
def test_valid_start_values(
    raw: dict[str, Any], value: str | int, stored: str, event_id: int | None
) -> None:
    raw["source"]["start"] = value
    s = settings_from_mapping(raw, {})
    assert s.source.start == stored
    assert s.source.start_event_id == event_id


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", "'abc'"), ("-5", "'-5'"), (-5, "'-5'"), ("Latest", "'Latest'"), ("", "''")],
)
def test_invalid_start_values(raw: dict[str, Any], value: str | int, shown: str) -> None:
    raw["source"]["start"] = value
    message = config_error(raw)
    assert f"[source] start must be 'latest', 'earliest' or an event id, not {shown}" in message


def test_start_from_environment(raw: dict[str, Any]) -> None:
    s = settings_from_mapping(raw, {"OBVO_SOURCE_START": "4711"})
    assert s.source.start_event_id == 4711


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("source", "poll_interval", 0, "[source] poll_interval must be greater than 0"),
        ("source", "hole_max_age", -1.0, "[source] hole_max_age must be greater than 0"),
        ("source", "batch_size", 0, "[source] batch_size must be between 1 and 100000"),
        ("source", "batch_size", 100_001, "[source] batch_size must be between 1 and 100000"),
        ("email", "port", 0, "[email] port must be between 1 and 65535"),
        ("email", "port", 65536, "[email] port must be between 1 and 65535"),
        ("email", "sender", "Občina", "[email] sender must be an e-mail address, not 'Občina'"),
        ("email", "reply_to", "nobody", "[email] reply_to must be an e-mail address"),
        ("delivery", "max_attempts", 0, "[delivery] max_attempts must be at least 1"),
        ("delivery", "batch_size", 0, "[delivery] batch_size must be at least 1"),
        (
            "delivery",
            "retry_max_delay",
            10.0,
            "[delivery] retry_max_delay must not be less than retry_initial_delay",
        ),
    ],
)
def test_out_of_range_values_are_named(
    raw: dict[str, Any], section: str, key: str, value: Any, expected: str
) -> None:
    raw[section][key] = value
    assert expected in config_error(raw)


def test_nan_from_environment_is_not_positive(raw: dict[str, Any]) -> None:
    message = config_error(raw, {"OBVO_SOURCE_POLL_INTERVAL": "nan"})
    assert "[source] poll_interval must be greater than 0" in message


def test_http_sms_backend_needs_an_http_url(raw: dict[str, Any]) -> None:
    raw["sms"]["backend"] = "http"
    raw["sms"]["url"] = "ftp://gateway.example"
    assert "[sms] url must be an http:// or https:// URL when backend = 'http'" in config_error(raw)
    raw["sms"]["url"] = "https://gateway.example/send"
    assert settings_from_mapping(raw, {}).sms.backend == "http"


def test_raw_mapping_is_not_modified(raw: dict[str, Any]) -> None:
    before = copy.deepcopy(raw)
    settings_from_mapping(raw, {"OBVO_EMAIL_PORT": "2525"})
    assert raw == before


# ---- load_settings: files, .env, environment ----


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, so a developer's own .env never leaks into a test."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def write_config(directory: Path, text: str = MINIMAL_TOML) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "obvo.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_settings_reads_the_file(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc")
    s = load_settings(path, environ={})
    assert s.database.url == DB_URL
    assert s.path == path


def test_load_settings_reads_the_example(tmp_path: Path, workdir: Path, example_text: str) -> None:
    path = write_config(tmp_path / "etc", example_text)
    s = load_settings(path, environ={"OBVO_DATABASE_URL": DB_URL})
    assert s.database.url == DB_URL
    assert s.email.sender == "Mestna občina Koper <obvestila@koper.si>"


def test_malformed_toml_names_the_file(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc", '[database]\nurl = "postgresql://x\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value).startswith(f"{path}: not valid TOML:")
    assert "line 2" in str(info.value)


def test_missing_explicit_file_is_an_error(tmp_path: Path, workdir: Path) -> None:
    path = tmp_path / "nowhere" / "obvo.toml"
    with pytest.raises(ConfigError, match="no such configuration file") as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)


def test_problems_in_a_file_name_the_file(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc", MINIMAL_TOML + "[email]\nport = 'x'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value).startswith(f"{path}: invalid configuration:")
    assert "[email] port: must be a whole number, not 'x'" in str(info.value)


def test_config_path_from_obvo_config(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc")
    s = load_settings(environ={"OBVO_CONFIG": str(path)})
    assert s.path == path
    assert s.database.url == DB_URL


def test_dotenv_beside_the_config_is_read(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc")
    (tmp_path / "etc" / ".env").write_text(
        "OBVO_SMS_TOKEN=from-dotenv\nOBVO_EMAIL_PORT=2626\n", encoding="utf-8"
    )
    s = load_settings(path, environ={})
    assert s.sms.token == "from-dotenv"
    assert s.email.port == 2626


def test_dotenv_in_the_working_directory_is_read(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc")
    (workdir / ".env").write_text("OBVO_EMAIL_HOST=mail.from-cwd.example\n", encoding="utf-8")
    assert load_settings(path, environ={}).email.host == "mail.from-cwd.example"


def test_dotenv_wins_over_the_file(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc", MINIMAL_TOML + "[email]\nport = 587\n")
    (tmp_path / "etc" / ".env").write_text("OBVO_EMAIL_PORT=2626\n", encoding="utf-8")
    assert load_settings(path, environ={}).email.port == 2626


def test_process_environment_wins_over_dotenv(tmp_path: Path, workdir: Path) -> None:
    path = write_config(tmp_path / "etc", MINIMAL_TOML + "[email]\nport = 587\n")
    (tmp_path / "etc" / ".env").write_text(
        "OBVO_EMAIL_PORT=2626\nOBVO_SMS_TOKEN=from-dotenv\n", encoding="utf-8"
    )
    (workdir / ".env").write_text("OBVO_EMAIL_PORT=2727\n", encoding="utf-8")
    s = load_settings(path, environ={"OBVO_EMAIL_PORT": "2828"})
    assert s.email.port == 2828
    assert s.sms.token == "from-dotenv"


def test_load_settings_without_file_uses_the_environment(tmp_path: Path, workdir: Path) -> None:
    env = {
        "OBVO_CONFIG": str(tmp_path / "absent.toml"),
        "OBVO_DATABASE_URL": DB_URL,
        "OBVO_SOURCE_EVENTS_QUERY": "SELECT 1 AS event_id",
        "OBVO_SOURCE_PARTIES_QUERY": "SELECT 1 WHERE 1 IN :case_ids",
    }
    s = load_settings(environ=env)
    assert s.path is None
    assert s.database.url == DB_URL


def test_misspelled_environment_variable_is_an_error() -> None:
    raw = {
        "database": {"url": "postgresql://x@127.0.0.1/db"},
        "source": {"events_query": "SELECT 1", "parties_query": "SELECT 1 WHERE 1 IN :case_ids"},
    }
    with pytest.raises(ConfigError, match="unknown environment variable OBVO_EMAIL_PASWORD"):
        settings_from_mapping(raw, {"OBVO_EMAIL_PASWORD": "secret"})


def test_a_sub_table_is_a_section_of_its_own_with_its_own_variables(
    raw: dict[str, Any],
) -> None:
    raw.setdefault("portal", {})["sipass"] = {"enabled": True, "name_attributes": ["Ime"]}
    env = {"OBVO_PORTAL_SIPASS_KEY_FILE": "/etc/obvo/sp.key", "OBVO_PORTAL_RATE_LIMIT": "7"}
    s = settings_from_mapping(raw, env)
    assert s.portal.sipass.enabled is True
    assert s.portal.sipass.name_attributes == ("Ime",)
    assert s.portal.sipass.key_file == "/etc/obvo/sp.key"
    assert s.portal.rate_limit == 7
    raw["portal"]["sipass"] = {"enabeld": True}
    with pytest.raises(ConfigError, match=r"\[portal.sipass\] unknown key 'enabeld'"):
        settings_from_mapping(raw, {})
    raw["portal"]["sipass"] = {}
    with pytest.raises(
        ConfigError, match="unknown environment variable OBVO_PORTAL_SIPASS_KEYFILE"
    ):
        settings_from_mapping(raw, {"OBVO_PORTAL_SIPASS_KEYFILE": "x"})
    raw["portal"]["sipass"] = "yes"
    with pytest.raises(ConfigError, match=r"\[portal.sipass\] must be a table"):
        settings_from_mapping(raw, {})
