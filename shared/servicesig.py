"""Kafka records signed by the services (issue 18): what only a service may have written.

``consent.events``, ``dsr.events``, ``dsr.tasks``, ``dsr.systems`` and ``privacy.dead-letter`` are
written by the services alone: the outbox relay (``shared.outbox``) and the dead-letter writer
(``shared.consumer``) sign every record they produce, and every service consumer of those topics
refuses a record the services did not sign. Anyone who can write to the broker (a clinic system,
with its own key) otherwise could forge a hold or an erasure on ``dsr.events``, a notice for the
privacy manager, or an erase task for a clinic system.

* Every such record carries the header ``dongui-service-signature``:
  ``v1.<key_id>.<base64url without padding of HMAC-SHA256(key, signed input)>``, the signed input
  being exactly that of a clinic system's signature (``shared.recordsig.signed_input``: the topic,
  the ``ce_*``, ``content-type`` and ``dongui-dlq-*`` headers, the value). The key is derived
  (HKDF-SHA256, info ``dongui service records hmac v1``) from ``DONGUI_DELEGATION_SECRET``, which
  only the services hold; ``key_id`` is ``svc.`` and the first 8 bytes, in hex, of
  HMAC-SHA256(key, ``key id``) (it tells a record signed under another deployment's secret).
  HMAC: ``consent.events`` carries thousands of events a second.
* A ``dsr.tasks`` record carries besides ``dongui-task-signature``:
  ``v1.<key_id>.<base64url without padding of the Ed25519 signature of the signed input>``.
  Clinic systems cannot check an HMAC made with the services' secret; they check this with the
  request service's public key, ``GET /v1/tasks/signing-key`` (``key_id`` is ``ed25519.`` and the
  first 8 bytes, in hex, of the public key's SHA-256). The private key is derived (HKDF-SHA256,
  info ``dongui dsr.tasks ed25519 v1``) from the same secret, so every replica signs alike.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.recordsig import VERSION, Headers, SignatureRefused, b64url, check, read_header, signed_input

#: The services' HMAC, on every record a service produces.
HEADER = "dongui-service-signature"
#: The request service's Ed25519 signature, on each ``dsr.tasks`` record besides.
TASK_HEADER = "dongui-task-signature"
#: The topic whose records carry :data:`TASK_HEADER`.
TASKS_TOPIC = "dsr.tasks"
_HMAC_INFO = b"dongui service records hmac v1"
_ED25519_INFO = b"dongui dsr.tasks ed25519 v1"


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)



def _one(headers: Headers | None, name: str, size: int) -> tuple[str, bytes]:
    """The key id and the signature bytes of the header ``name`` (``recordsig.read_header``)."""
    return read_header(headers, name, size, what=f"{size} bytes",
                       unsigned=f" by the services (no {name} header): only a service writes this topic")


class TaskVerifier:
    """Checks the request service's Ed25519 signature of a ``dsr.tasks`` record: what a clinic
    system holds (the public key from ``GET /v1/tasks/signing-key``)."""

    def __init__(self, public_key: bytes) -> None:
        self._public = Ed25519PublicKey.from_public_bytes(public_key)
        self.key_id = f"ed25519.{hashlib.sha256(public_key).hexdigest()[:16]}"

    def verify(self, value: bytes | None, headers: Headers | None, topic: str = TASKS_TOPIC) -> None:
        """:class:`SignatureRefused` unless the request service signed this record as it is."""
        headers = list(headers or ())
        ident, given = _one(headers, TASK_HEADER, 64)
        if ident != self.key_id:
            raise SignatureRefused(f"the task is signed with the key '{ident}', not the request service's "
                                   f"'{self.key_id}'")
        try:
            self._public.verify(given, signed_input(topic, value, headers))
        except (InvalidSignature, ValueError):
            raise SignatureRefused("the task's signature does not match it: changed after the request service "
                                   "signed it, or not signed by it") from None


class ServiceRecords:
    """Signs and checks the records the services produce, with keys derived from
    ``DONGUI_DELEGATION_SECRET`` (module docstring)."""

    def __init__(self, secret: bytes) -> None:
        self._key = _derive(secret, _HMAC_INFO)
        self.key_id = f"svc.{hmac.digest(self._key, b'key id', 'sha256')[:8].hex()}"
        self._task_key = Ed25519PrivateKey.from_private_bytes(_derive(secret, _ED25519_INFO))
        self.task_public_key = self._task_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.tasks = TaskVerifier(self.task_public_key)

    def signed(self, topic: str, value: bytes | None, headers: Headers) -> list[tuple[str, bytes]]:
        """``headers`` with the services' signature(s) of this record in place of any it had."""
        kept = [(k, v) for k, v in headers if k not in (HEADER, TASK_HEADER)]
        given = hmac.digest(self._key, signed_input(topic, value, kept), "sha256")
        kept.append((HEADER, f"{VERSION}.{self.key_id}.{b64url(given)}".encode()))
        if topic == TASKS_TOPIC:  # few records: Ed25519's cost (about 50 µs) does not matter here
            signature = self._task_key.sign(signed_input(topic, value, kept))
            kept.append((TASK_HEADER, f"{VERSION}.{self.tasks.key_id}.{b64url(signature)}".encode()))
        return kept

    def verify(self, topic: str, value: bytes | None, headers: Headers | None) -> None:
        """:class:`SignatureRefused`, saying why, unless a service of this deployment produced the
        record as it is."""
        headers = list(headers or ())
        ident, given = _one(headers, HEADER, 32)
        if ident != self.key_id:
            raise SignatureRefused(f"the record is signed with the services' key '{ident}', not this deployment's "
                                   f"'{self.key_id}' (another DONGUI_DELEGATION_SECRET?)")
        check(given, self._key, topic, value, headers, ident)
