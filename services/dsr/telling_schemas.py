"""The HTTP bodies of telling the requester: their contact (for the notifier's key alone), the
acknowledgement, and what staff still need from them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import InformationNeeded


class RequesterContact(BaseModel):
    """Where and how the requester is told, asked at each delivery and never kept by the notifier."""

    channel: Literal["email", "sms", "none"] = Field(description=(
        "email or sms from the contact the requester gave; none when it is neither (nothing is sent)."))
    address: str | None = Field(description="The email address or phone number; null with channel none.")
    language: Literal["ko", "en", "vi"]
    link: str = Field(description=(
        "The requester's private portal link (its token after #t=); the portal's page of the request, which "
        "asks for the token, for requests filed before tokens were kept for it."))


class Acknowledge(BaseModel):
    """Record the acknowledgement; the notifier says how it told the requester, staff leave it out."""

    model_config = ConfigDict(extra="forbid")
    via: Literal["email", "sms", "staff"] = Field(default="staff", description=(
        "email or sms: the notifier told the requester it was received (its key only); staff: by hand."))


class AskRequester(BaseModel):
    """What staff still need from the requester, by code (the message says it in their language)."""

    model_config = ConfigDict(extra="forbid")
    needed: InformationNeeded = Field(description=(
        "identity_document, proof_of_representation (of a legal representative), power_of_attorney (of an "
        "agent), or clarification (of what is asked)."))
