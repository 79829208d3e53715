"""A VOPI event's values as JSON and back, keeping the types templates care about.

Coalescing renders one message for several events long after they were read; their values
are kept on the notification (`event_values`). Times must come back as times (the `datetime`
filter needs one) and decimals as decimals, so those are tagged; anything else JSON cannot hold
is kept as its text.

Pure logic.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dump_values", "load_values"]

_TAG = "$type"


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        return {_TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, dt.time):
        return {_TAG: "time", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "value": str(value)}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


_DECODERS = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "decimal": Decimal,
}


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        tag = value.get(_TAG)
        if isinstance(tag, str) and tag in _DECODERS and set(value) == {_TAG, "value"}:
            return _DECODERS[tag](value["value"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def dump_values(values: Mapping[str, Any]) -> str:
    """JSON text of an event's values (for a jsonb column)."""
    return json.dumps(_encode(values), ensure_ascii=False, separators=(",", ":"))


def load_values(data: str | Mapping[str, Any]) -> dict[str, Any]:
    """The values back from JSON text (or from the dict psycopg makes of a jsonb value)."""
    parsed = json.loads(data) if isinstance(data, str) else data
    if not isinstance(parsed, dict):
        raise TypeError("event values must be a JSON object")
    return {str(k): _decode(v) for k, v in parsed.items()}
