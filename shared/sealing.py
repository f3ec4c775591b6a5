"""Personal data on Kafka, sealed per subject (crypto-shredding for the bus), and only its reader can open it.

A Kafka topic keeps what was written to it until its retention ends, and no one can delete one
person's records from it. So personal fields (a guardian's name, a birth date, a correction, an
export) travel inside an event's ``data`` as ``sealed``: a JWE (RFC 7516) in compact form, whose
``kid`` is the subject id and whose plaintext is a JSON object of the fields it hides.

Each subject has one secret, their *transit root* (32 random bytes), kept by the consent service
and destroyed with the rest of the subject's keys when an erasure is approved: from then on every
sealed field of theirs, in any topic, in any backup of the broker, is unreadable. Two directions,
two kinds of key made from it:

* **To the services** (a consent event from a clinic system, a system's answer to its task):
  ``alg: ECDH-ES``, ``enc: A256GCM``, to the subject's *public* key, an X25519 key whose private
  half is the transit root (RFC 8037). Any system may get the public key
  (``POST /v1/subjects/{subject_id}/transit-key``); it seals and opens nothing else, so a system
  cannot read what another system sealed. Only the consent service and the request service hold
  the private half (``.../transit-key/private``, for the request service's own key).
* **To one clinic system** (a rectification's corrections in a task): ``alg: dir``,
  ``enc: A256GCM``, with the *task key* of that subject and that system, derived from the root
  (HKDF-SHA256, :func:`task_key`). The request service gives it to a system only for its own task
  while the task is open (``POST /v1/tasks/{task_id}/key``): no system opens what was sealed for
  another, nor asks a key for subjects it has no open task for.

Any JOSE library opens and makes these (we use joserfc). ``subject_id`` itself always stays in the
clear: it routes the message and names the key.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, OKPKey

from shared import jsonbytes
from shared.recordsig import b64url

SEALED = "sealed"
ENCRYPTION = "A256GCM"
#: Sealed by a clinic system for the services: to the subject's public key.
TO_SERVICES = "ECDH-ES"
#: Sealed by the request service for one clinic system: with that system's task key.
TO_SYSTEM = "dir"
#: Fields that can never be sealed: they say whose key opens the rest.
CLEAR_FIELDS = frozenset({"subject_id"})
#: A sealed value larger than this is refused before any decryption is tried.
MAX_SEALED_CHARS = 2 * 1024 * 1024


class SealedDataError(ValueError):
    """The sealed value cannot be used; the message says why, for a person to read."""



def public_jwk(root: bytes, *, kid: str) -> dict[str, str]:
    """The subject's public key (an X25519 JWK, RFC 8037): what a clinic system seals to."""
    public = X25519PrivateKey.from_private_bytes(root).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "X25519", "x": b64url(public), "kid": kid, "use": "enc",
            "alg": TO_SERVICES, "enc": ENCRYPTION}


def private_jwk(root: bytes, *, kid: str) -> dict[str, str]:
    """The subject's private key as a JWK (``d`` is the transit root): for the request service only."""
    return {**public_jwk(root, kid=kid), "d": b64url(root)}


def task_key(root: bytes, system_id: str) -> bytes:
    """The key that seals a subject's task data for one clinic system (and nothing for another)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"dongui-task-key-v1:" + system_id.encode()).derive(root)


def _public(key: dict[str, str] | OKPKey) -> OKPKey:
    if isinstance(key, OKPKey):
        return key
    if key.get("kty") != "OKP" or key.get("crv") != "X25519" or not key.get("x"):
        raise SealedDataError("the subject's public key must be an X25519 JWK (kty OKP, crv X25519, x).")
    return OKPKey.import_key({"kty": "OKP", "crv": "X25519", "x": key["x"]})


def seal_to(fields: dict[str, Any], public: dict[str, str] | OKPKey, *, kid: str) -> str:
    """Seal ``fields`` (a JSON object) for the services, to the subject ``kid``'s public key."""
    protected = {"alg": TO_SERVICES, "enc": ENCRYPTION, "kid": kid, "cty": "json"}
    return jwe.encrypt_compact(protected, jsonbytes.compact(fields), _public(public),
                               algorithms=[TO_SERVICES, ENCRYPTION])


def seal(fields: dict[str, Any], key: bytes, *, kid: str) -> str:
    """Seal ``fields`` (a JSON object) about the subject ``kid`` for one system, with its task key."""
    protected = {"alg": TO_SYSTEM, "enc": ENCRYPTION, "kid": kid, "cty": "json"}
    return jwe.encrypt_compact(protected, jsonbytes.compact(fields), OctKey.import_key(key))


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


def _open(token: str, key: OctKey | OKPKey, algorithm: str, *, field: str, whose: str) -> dict[str, Any]:
    found = header(token, field=field)
    if found.get("alg") != algorithm or found.get("enc") != ENCRYPTION:
        raise SealedDataError(
            f"{field} must use alg '{algorithm}' and enc '{ENCRYPTION}', not "
            f"'{found.get('alg')}' and '{found.get('enc')}'."
        )
    try:
        plaintext = jwe.decrypt_compact(token, key, algorithms=[algorithm, ENCRYPTION]).plaintext
    except (JoseError, ValueError):
        raise SealedDataError(f"{field} cannot be opened with {whose}.") from None
    try:
        fields = jsonbytes.loads(plaintext or b"")
    except jsonbytes.TooDeep as exc:
        raise SealedDataError(f"{field} holds JSON {exc}.") from None
    except (ValueError, UnicodeDecodeError):
        raise SealedDataError(f"{field} does not hold JSON.") from None
    if not isinstance(fields, dict):
        raise SealedDataError(f"{field} must hold a JSON object of data fields.")
    return fields


def open_token(token: str, key: bytes, *, field: str = "data.sealed") -> dict[str, Any]:
    """Open what the request service sealed for one system (``key``: that system's task key)."""
    return _open(token, OctKey.import_key(key), TO_SYSTEM, field=field, whose="this system's task key")


def open_sealed(token: str, root: bytes, *, field: str = "data.sealed") -> dict[str, Any]:
    """Open what a clinic system sealed for the services (``root``: the subject's transit root)."""
    private = OKPKey.import_key(X25519PrivateKey.from_private_bytes(root))
    return _open(token, private, TO_SERVICES, field=field, whose="the subject's private key")


KeyLookup = Callable[[str], Awaitable[bytes]]


async def unseal_data(data: Any, key_for: KeyLookup, *, opener: Callable[..., dict[str, Any]] = open_sealed) -> Any:
    """``data`` with its ``sealed`` fields opened and merged in; unchanged when nothing is sealed.

    ``key_for(subject_id)`` returns the key ``opener`` opens with (the services: the subject's
    transit root, with :func:`open_sealed`; a clinic system: its task key, with :func:`open_token`),
    or raises :class:`SealedDataError` (no key issued, or destroyed) or any transient error (which
    the caller retries).
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
    fields = opener(token, await key_for(subject_id))
    clash = sorted((set(fields) & set(data)) | (set(fields) & CLEAR_FIELDS) | ({SEALED} & set(fields)))
    if clash:
        raise SealedDataError(f"data.sealed repeats fields that are also given in the clear or must stay clear: {', '.join(clash)}.")
    opened = {k: v for k, v in data.items() if k != SEALED}
    opened.update(fields)
    return opened


def encode_key(key: bytes) -> str:
    """A raw key as a JWK's ``k`` or ``d`` gives it (base64url, no padding)."""
    return b64url(key)


def decode_key(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
