"""Turning one item into the line crawlhub stores, or a clear ItemError.

Items are checked here, where the spider saves them, because the endpoint
refuses a whole request for one bad line: checked late, one bad item would
cost the good ones sent with it.
"""
import dataclasses
import datetime
import decimal
import enum
import json
import os
import uuid
from collections.abc import Mapping

# The same limits the endpoint applies (store.MaxItemBytes and
# store.ReservedItemKeys on the crawlhub side, which sdk/limits_test.go
# holds these to): the stores keep their own fields under the reserved
# names beside the item's keys.
MAX_ITEM_BYTES = 1 << 20
RESERVED_KEYS = ("_id", "_task_id", "_n", "_key", "_outcome", "_current", "_saved", "_json")


class ItemError(ValueError):
    """An item crawlhub cannot take: nothing of it was saved.

    ``index`` is the item's position in the save_items call (None for
    save_item).
    """

    def __init__(self, message, index=None):
        super().__init__(message)
        self.index = index


def _default(value):
    """Encodes the types spiders commonly hold that JSON has no type for."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        # As text: a float would round it, and money is what Decimal holds.
        return str(value)
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:  # mixed types: any order is as good
            return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise TypeError(
                "bytes that are not UTF-8 text: decode them, or base64-encode them, before saving"
            ) from None
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(
        f"a value of type {type(value).__name__} is not JSON: "
        "convert it to a string, a number, a list or a dict"
    )


def preview(line, limit=120):
    """The start of an item's JSON, to name it in a message."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
    return text if len(text) <= limit else text[:limit] + "…"


def encode_item(item, index=None):
    """Returns the item as one line of compact JSON (UTF-8, no newline).

    Raises ItemError when the item is not an object, has a reserved key,
    holds something JSON cannot, or is over MAX_ITEM_BYTES.
    """
    where = "item" if index is None else f"item {index}"
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        item = _default(item)
    elif isinstance(item, Mapping) and not isinstance(item, dict):
        item = dict(item)
    if not isinstance(item, dict):
        raise ItemError(
            f"{where} is a {type(item).__name__}: an item must be a JSON object (a dict)", index
        )
    reserved = [k for k in RESERVED_KEYS if k in item]
    if reserved:
        raise ItemError(
            f"{where} has the reserved key {reserved[0]!r}: crawlhub keeps its own fields "
            f"under {', '.join(RESERVED_KEYS)}; rename it",
            index,
        )
    try:
        text = json.dumps(
            item, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default
        )
    except ValueError as e:
        if "Out of range float" in str(e):
            raise ItemError(
                f"{where} holds NaN or Infinity, which JSON cannot: use None or a string", index
            ) from None
        if "Circular reference" in str(e):
            raise ItemError(f"{where} contains itself (a circular reference)", index) from None
        raise ItemError(f"{where} is not JSON: {e}", index) from None
    except TypeError as e:
        raise ItemError(f"{where} is not JSON: {e}", index) from None
    except RecursionError:
        raise ItemError(f"{where} is nested too deeply to be JSON", index) from None
    try:
        line = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ItemError(
            f"{where} has a string that is not valid Unicode (a lone surrogate)", index
        ) from None
    if len(line) > MAX_ITEM_BYTES:
        raise ItemError(
            f"{where} is {len(line)} bytes as JSON, over the limit of {MAX_ITEM_BYTES} bytes "
            f"(1 MiB): {preview(line, 80)}",
            index,
        )
    return line
