"""Telling the requester of a request: their channel and address, asked of the request service at
each delivery and never kept; email through the notifier's SMTP, SMS through a pluggable sender.

The requester's contact never travels on Kafka and is never written here: ``RequesterChannel``
asks the request service (``POST /v1/requests/{id}/requester-contact``, with the notifier's key,
configured there with ``tells_requesters``) at each attempt, sends, and forgets it. What is stored
is the channel used (``requester by email``), never the address; an error that quotes the address
is stored with it masked. Once the requester was told their request was received, an
``acknowledgement`` delivery of its own (written with that outcome, retried apart, so that a
failure to record it never sends the message again) has the request service record Vietnam's
acknowledgement, ``via`` the channel used.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections import deque
from typing import Any, Protocol

import httpx
from prometheus_client import Counter

from services.notifier.channels import NothingToSend, PermanentFailure, send_email
from services.notifier.kinds import Kind
from services.notifier.render import Renderer
from services.notifier.settings import NotifierSettings, Recipient

log = logging.getLogger(__name__)

#: The channel name of a requester's deliveries, and the prefix of their recipient ids.
REQUESTER = "requester"
#: The channel that records, once the requester was told it was received, the acknowledgement.
ACKNOWLEDGEMENT = "acknowledgement"

SMS_SENT = Counter("dongui_notifier_sms_total", "Text messages handed to the SMS sender, by sender", ["sender"])


def requester_id(request_id: str) -> str:
    """The recipient id of a request's requester (one notification per event and requester)."""
    return f"{REQUESTER}:{request_id}"


def is_requester(recipient_id: str) -> bool:
    return recipient_id.startswith(f"{REQUESTER}:")


def mask(address: str) -> str:
    """An address as a log line may show it: an email's first letter and domain, a number's last
    two digits."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}…@{domain}"
    digits = [c for c in address if c.isdigit()]
    return "…" + "".join(digits[-2:])


#: The requester's token in a private link (``…#t=<token>``).
_TOKEN = re.compile(r"#t=[A-Za-z0-9_-]+")


class SmsSender(Protocol):
    """Sends one text message; raises to have it tried again (``PermanentFailure`` if it cannot be)."""

    name: str

    async def send(self, number: str, text: str) -> None: ...


class LoggingSmsSender:
    """The default: a text message is logged (the number masked) and counted, not sent. A clinic
    plugs in its gateway with ``NOTIFIER_SMS_SENDER=package.module:factory``."""

    name = "log"

    def __init__(self) -> None:
        # The last texts (masked number, text), for a test or an operator's debugger; bounded, so a
        # long-running notifier does not keep every message it ever wrote.
        self.sent: deque[tuple[str, str]] = deque(maxlen=100)

    async def send(self, number: str, text: str) -> None:
        self.sent.append((mask(number), text))
        # The log never holds the private link's token: whoever reads the logs must not open the request.
        log.info("text message to %s (not sent: NOTIFIER_SMS_SENDER=log): %s", mask(number),
                 _TOKEN.sub("#t=…", text))


def sms_sender(settings: NotifierSettings) -> SmsSender:
    """The sender ``NOTIFIER_SMS_SENDER`` names: ``log``, or a factory called with the settings."""
    if settings.sms_sender == "log":
        return LoggingSmsSender()
    module, _, factory = settings.sms_sender.partition(":")
    return getattr(importlib.import_module(module), factory)(settings)


class RequestServiceClient:
    """The request service as the notifier calls it: the requester's contact, the acknowledgement."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.client = httpx.AsyncClient(base_url=settings.dsr_url, follow_redirects=False,
                                        timeout=settings.delivery_timeout.total_seconds(),
                                        headers={"Authorization": f"Bearer {settings.dsr_api_key.get_secret_value()}"})

    async def contact(self, request_id: str) -> dict[str, Any]:
        response = await self.client.post(f"/v1/requests/{request_id}/requester-contact")
        if response.status_code in (404, 410):
            raise NothingToSend(f"request {request_id}: its personal data was destroyed, there is no one to tell")
        if response.status_code in (401, 403):
            raise PermanentFailure(f"the request service refused the notifier's key (HTTP {response.status_code}): "
                                   f"configure NOTIFIER_DSR_API_KEY with tells_requesters there")
        response.raise_for_status()
        return response.json()

    async def acknowledge(self, request_id: str, via: str) -> None:
        """Record the acknowledgement; once, so a retry is harmless. A request no law asks to
        acknowledge (409), or one destroyed since (410), needs none."""
        response = await self.client.post(f"/v1/requests/{request_id}/acknowledgement", json={"via": via})
        if response.status_code not in (200, 409, 410):
            response.raise_for_status()

    async def close(self) -> None:
        await self.client.aclose()


class Unreachable(Exception):
    """The requester's email server or SMS gateway did not take the message (tried again)."""


class RequesterChannel:
    """One attempt to tell a requester: ask where, then send by email or SMS."""

    def __init__(self, settings: NotifierSettings, renderer: Renderer, requests: RequestServiceClient,
                 sms: SmsSender) -> None:
        self.settings = settings
        self.renderer = renderer
        self.requests = requests
        self.sms = sms

    async def send(self, notification: dict[str, Any], recipient: Recipient) -> str:
        request_id = str(notification["request_id"])
        contact = await self.requests.contact(request_id)
        channel, address = contact["channel"], contact.get("address")
        if channel not in ("email", "sms") or not address:
            raise NothingToSend("the requester gave no email address or phone number to be told at")
        if channel == "email" and not self.settings.email_enabled:
            raise NothingToSend("email is off (NOTIFIER_SMTP_HOST is empty): a requester who gave an email address "
                                "is not told")
        try:
            if channel == "email":
                await send_email(self.settings, self.renderer.email(
                    notification, to_name="", to_address=address, sender=self.settings.smtp_from, link=contact["link"]))
            else:
                await self.sms.send(address, self.renderer.sms(notification, contact["link"]))
                SMS_SENT.labels(self.sms.name).inc()
        except Exception as exc:  # kept and shown without the address a server may quote back
            text = str(exc).replace(address, mask(address))
            if isinstance(exc, PermanentFailure):
                raise PermanentFailure(text) from None
            raise Unreachable(f"{type(exc).__name__}: {text}" if text else type(exc).__name__) from None
        return f"{REQUESTER} by {channel}"


def owes_acknowledgement(notification: dict[str, Any]) -> bool:
    """A requester told their request was received, which a law asks to acknowledge (Vietnam's)."""
    return notification["kind"] == Kind.requester_received.value and bool(notification["facts"].get("acknowledge_by"))


class AcknowledgementChannel:
    """Records the acknowledgement of a request whose requester was told it was received; ``via``
    is how they were told (the target the acknowledgement delivery was written with)."""

    def __init__(self, requests: RequestServiceClient) -> None:
        self.requests = requests

    async def send(self, notification: dict[str, Any], recipient: Recipient) -> str:
        via = notification["delivery_target"]
        await self.requests.acknowledge(str(notification["request_id"]), via)
        return via
