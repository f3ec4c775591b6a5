"""Personal data on Kafka, sealed with the subject's transit key (crypto-shredding for the bus).

A Kafka topic keeps what was written to it until its retention ends, and no one can delete one
person's records from it. So personal fields (a guardian's name, a birth date, a correction, an
export) travel inside an event's ``data`` as ``sealed``: a JWE (RFC 7516) in compact form,
``alg: dir``, ``enc: A256GCM``, ``kid`` = the subject id, whose plaintext is a JSON object of
the fields it hides. The key is the subject's *transit key*, issued by the consent service
(``POST /v1/subjects/{subject_id}/transit-key``) and destroyed with the rest of the subject's keys
when an erasure is approved: from then on every sealed field of theirs, in any topic, in any
backup of the broker, is unreadable.

Any JOSE library opens and makes these (we use joserfc). ``subject_id`` itself always stays in the
clear: it routes the message and names the key.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from shared import jsonbytes

SEALED = "sealed"
ALGORITHM = "dir"
ENCRYPTION = "A256GCM"
#: Fields that can never be sealed: they say whose key opens the rest.
CLEAR_FIELDS = frozenset({"subject_id"})
#: A sealed value larger than this is refused before any decryption is tried.
MAX_SEALED_CHARS = 2 * 1024 * 1024


class SealedDataError(ValueError):
    """The sealed value cannot be used; the message says why, for a person to read."""


def _key(raw: bytes) -> OctKey:
    return OctKey.import_key(raw)


def seal(fields: dict[str, Any], key: bytes, *, kid: str) -> str:
    """Seal ``fields`` (a JSON object) for the subject ``kid`` with their transit key."""
    plaintext = jsonbytes.compact(fields)
    header = {"alg": ALGORITHM, "enc": ENCRYPTION, "kid": kid, "cty": "json"}
    return jwe.encrypt_compact(header, plaintext, _key(key))


def header(token: str, *, field: str = "data.sealed") -> dict[str, Any]:
    """The protected header of a compact JWE, read without any key. ``field``, here and below,
    is the name the refusals give the sealed value: where the sender put it."""
    if not isinstance(token, str) or token.count(".") != 4:
        raise SealedDataError(f"{field} is not a JWE in compact form (five dot-separated parts).")
    part = token.split(".", 1)[0]
    try:
        value = jsonbytes.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except jsonbytes.TooDeep as exc:
        raise SealedDataError(f"{field} has a protected header {exc}.") from None
    except (ValueError, UnicodeDecodeError):
        raise SealedDataError(f"{field} has a protected header that is not base64url JSON.") from None
    if not isinstance(value, dict):
        raise SealedDataError(f"{field} has a protected header that is not a JSON object.")
    return value


def check_kid(token: str, subject_id: str, *, field: str = "data.sealed",
              subject_field: str = "data.subject_id") -> None:
    """Refuse a sealed value whose ``kid`` is not ``subject_id``: it names the key that opens it."""
    kid = header(token, field=field).get("kid")
    if kid != subject_id:
        raise SealedDataError(f"{field} was sealed for '{kid}', not for {subject_field} '{subject_id}'.")


def open_token(token: str, key: bytes, *, field: str = "data.sealed") -> dict[str, Any]:
    """Decrypt one sealed value; its plaintext must be a JSON object."""
    found = header(token, field=field)
    if found.get("alg") != ALGORITHM or found.get("enc") != ENCRYPTION:
        raise SealedDataError(
            f"{field} must use alg '{ALGORITHM}' and enc '{ENCRYPTION}', not "
            f"'{found.get('alg')}' and '{found.get('enc')}'."
        )
    try:
        plaintext = jwe.decrypt_compact(token, _key(key), algorithms=[ALGORITHM, ENCRYPTION]).plaintext
    except (JoseError, ValueError):
        raise SealedDataError(f"{field} cannot be opened with the subject's transit key.") from None
    try:
        fields = jsonbytes.loads(plaintext or b"")
    except jsonbytes.TooDeep as exc:
        raise SealedDataError(f"{field} holds JSON {exc}.") from None
    except (ValueError, UnicodeDecodeError):
        raise SealedDataError(f"{field} does not hold JSON.") from None
    if not isinstance(fields, dict):
        raise SealedDataError(f"{field} must hold a JSON object of data fields.")
    return fields


KeyLookup = Callable[[str], Awaitable[bytes]]


async def unseal_data(data: Any, key_for: KeyLookup) -> Any:
    """``data`` with its ``sealed`` fields opened and merged in; unchanged when nothing is sealed.

    ``key_for(subject_id)`` returns the subject's transit key, or raises :class:`SealedDataError`
    (no key issued, or destroyed) or any transient error (which the caller retries).
    """
    if not isinstance(data, dict) or SEALED not in data:
        return data
    token = data[SEALED]
    if not isinstance(token, str) or len(token) > MAX_SEALED_CHARS:
        raise SealedDataError(f"data.sealed must be a compact JWE string of at most {MAX_SEALED_CHARS} characters.")
    subject_id = data.get("subject_id")
    if not isinstance(subject_id, str) or not subject_id:
        raise SealedDataError("data.subject_id must be given in the clear beside data.sealed: it names the key.")
    check_kid(token, subject_id)
    fields = open_token(token, await key_for(subject_id))
    clash = sorted((set(fields) & set(data)) | (set(fields) & CLEAR_FIELDS) | ({SEALED} & set(fields)))
    if clash:
        raise SealedDataError(f"data.sealed repeats fields that are also given in the clear or must stay clear: {', '.join(clash)}.")
    opened = {k: v for k, v in data.items() if k != SEALED}
    opened.update(fields)
    return opened


def encode_key(key: bytes) -> str:
    """A raw key as the transit-key endpoint gives it (base64url, no padding), like a JWK's ``k``."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def decode_key(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
