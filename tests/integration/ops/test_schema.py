"""sql/schema.sql and sql/migrations/ describe the same schema (regenerate with `make schema`)."""

from __future__ import annotations

from tests.tools.schema import (
    REGENERATE,
    describe,
    differences,
    expected_migrations,
    load_schema_file,
)


def test_schema_file_equals_the_migrations_replayed(
    empty_database_url: str, database_url: str
) -> None:
    # database_url's template was built by replaying sql/migrations/ in order with
    # vopi_obvo.ops.migrate, exactly as `obvo migrate` does.
    load_schema_file(empty_database_url)
    built = describe(empty_database_url)
    migrated = describe(database_url)
    assert built == migrated, differences(built, migrated)


def test_schema_file_records_every_migration(empty_database_url: str) -> None:
    load_schema_file(empty_database_url)
    recorded = {line for line in describe(empty_database_url) if line.startswith("migration ")}
    assert recorded == expected_migrations(), (
        f"sql/schema.sql records {sorted(recorded)}, sql/migrations/ has "
        f"{sorted(expected_migrations())}: run `{REGENERATE}`"
    )


def test_the_description_sees_what_a_schema_is_made_of(database_url: str) -> None:
    # A comparison is only as good as what it compares: each kind of fact must be described.
    lines = describe(database_url)
    kinds = {line.split(" ", 1)[0] for line in lines}
    assert {"relation", "column", "constraint", "index", "sequence", "function"} <= kinds
    assert any(
        line.startswith("column notifications.status ") and " not null" in line for line in lines
    )
