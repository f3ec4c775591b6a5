"""Transit keys: each subject's transit root (shared/sealing.py), issued here and destroyed with the
subject's erasure. Clinic systems seal an event's personal fields to its public half before putting
it on Kafka (``data.sealed``); this service and the request service open them with the root."""

from __future__ import annotations

import asyncpg

from services.consent.errors import UnopenableSealedData
from shared.cloudevents import CloudEvent
from shared.crypto import KeyDestroyed, SubjectKeys
from shared.problems import Gone
from shared.sealing import SealedDataError, unseal_data


class TransitKeys:
    def __init__(self, keys: SubjectKeys) -> None:
        self.keys = keys.other_kind(table="transit_keys", label="transit-key")

    async def issue(self, conn: asyncpg.Connection, subject_id: str) -> bytes:
        """The subject's transit root, issued now if they have none. Gone once they are erased."""
        try:
            key = await self.keys.key(conn, subject_id, create=True)
        except KeyDestroyed:
            raise Gone(
                f"Subject '{subject_id}' was erased: their transit key was destroyed and no new one is issued. "
                "Send no personal data about them."
            ) from None
        assert key is not None  # create=True
        return key

    async def unseal(self, conn: asyncpg.Connection, envelope: CloudEvent) -> CloudEvent:
        """The envelope with ``data.sealed`` opened and merged into ``data`` (no-op when absent)."""

        async def key_for(subject_id: str) -> bytes:
            try:
                key = await self.keys.key(conn, subject_id, create=False)
            except KeyDestroyed:
                raise SealedDataError(
                    f"The transit key of subject '{subject_id}' was destroyed (erasure): data.sealed can never be opened."
                ) from None
            if key is None:
                raise SealedDataError(
                    f"No transit key was issued for subject '{subject_id}'; get one with "
                    f"POST /v1/subjects/{subject_id}/transit-key and seal to it."
                )
            return key

        try:
            data = await unseal_data(envelope.data, key_for)
        except SealedDataError as exc:
            raise UnopenableSealedData(str(exc)) from None
        return envelope if data is envelope.data else envelope.model_copy(update={"data": data})

    async def destroy(self, conn: asyncpg.Connection, subject_id: str) -> bool:
        """Destroy the subject's transit key, and with it every value ever sealed for them."""
        return await self.keys.destroy(conn, subject_id)
