"""JSON writing on the hot paths (digests, the hash chain, Kafka values, sealed plaintexts) with
orjson, to the byte what the standard library writes.

Digests and the ledger's hash chain are taken over JSON bytes, so those bytes may never change
for a value once written: a replayed event compares by digest, and a chain verified years later
is hashed again. orjson writes exactly what ``json.dumps(..., ensure_ascii=False)`` with compact
separators writes for strings, integers of up to 64 bits, booleans, null, lists, and objects with
string keys (``tests/test_jsonbytes.py`` checks it with Hypothesis). It writes floats differently
(``1e-07`` as ``1e-7``, NaN as ``null``) and accepts types the standard library refuses (UUID,
datetime, enums, dataclasses). So a value is handed to orjson only when it is made of exactly
those plain types with no float; anything else, and anything orjson refuses (a larger integer, a
lone surrogate), goes through the standard library, which writes what it always wrote or raises
what it always raised. The check costs less than it saves: for a consent event's envelope, 1.8 µs
of checking and 0.6 µs of writing against 5.3 µs for the standard library's encoder.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> bool:
    """Made only of str, int, bool, None, lists and str-keyed dicts (exact types, no float).
    Unrolled for the common leaves: this runs for every digest, so it must cost far less than
    the standard library's encoder it stands in for."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            leaf = type(item)
            if not (leaf is str or leaf is int or leaf is bool or item is None or _plain(item)):
                return False
        return True
    if kind is list:
        for item in value:
            leaf = type(item)
            if not (leaf is str or leaf is int or leaf is bool or item is None or _plain(item)):
                return False
        return True
    return kind in _SCALARS


def _orjson(value: Any, option: int) -> bytes | None:
    if not _plain(value):
        return None
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError:  # an integer past 64 bits, a lone surrogate: the slow path decides
        return None


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes a digest or a chain hash is taken over.
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()``."""
    fast = _orjson(value, orjson.OPT_SORT_KEYS)
    if fast is not None:
        return fast
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compact(value: Any) -> bytes:
    """Keys in their order, no whitespace, UTF-8: a Kafka value, a sealed plaintext.
    ``json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()``."""
    fast = _orjson(value, 0)
    if fast is not None:
        return fast
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
