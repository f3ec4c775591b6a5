"""The consent service's rules, one object per concern, applied on the caller's connection (never
committing themselves). :class:`ConsentService` builds them once and is what ``app.py`` wires in.

| part | module | what it does |
|---|---|---|
| ``policies`` | ``policies.py`` | the purpose catalogue; publishing and reading policy versions |
| ``transit`` | ``transit.py`` | the transit keys events are sealed with on Kafka |
| ``recording`` | ``recording.py`` | the one write path of the ledger (``record_many``) |
| ``ledger`` | ``ledger.py`` | records as shown, the chain verified, receipts |
| ``permissions`` | ``permissions.py`` | "may this data be used?", the decisions in force |
| ``commands`` | ``commands.py`` | the request service's holds, erasures and withdrawals |
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.consent import domain
from services.consent.commands import Commands
from services.consent.ledger import Ledger
from services.consent.permissions import Permissions
from services.consent.policies import Policies
from services.consent.recording import Recording
from services.consent.settings import ConsentSettings
from services.consent.transit import TransitKeys
from shared.crypto import SubjectKeys


class ConsentService:
    def __init__(
        self,
        settings: ConsentSettings,
        purposes: dict[str, domain.Purpose],
        keys: SubjectKeys,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.purposes = purposes
        self.keys = keys
        zone = settings.zone
        self.policies = Policies(settings, purposes, clock)
        self.transit = TransitKeys(keys)
        self.recording = Recording(settings, self.policies, keys, self.transit, clock)
        self.ledger = Ledger(settings, self.policies, keys, zone)
        self.permissions = Permissions(self.policies, self.ledger, zone, clock)
        self.commands = Commands(settings, self.recording, clock)
