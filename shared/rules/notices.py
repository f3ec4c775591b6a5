"""Telling people in time: a new policy's notice period, and the hours no advert may be sent.

- A changed privacy policy is announced at least 7 days before it applies: the clinic's own
  commitment (the seed policies' section 12). The consent service refuses a later version that
  takes effect sooner (``CONSENT_POLICY_NOTICE_PERIOD`` may lengthen it, never shorten it).
- An advertisement sent between 21:00 and 08:00, the clinic's local time, needs its own consent
  on top of the channel's (Act on Promotion of Information and Communications Network Utilization
  and Information Protection, Art. 50(3)).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

POLICY_NOTICE_PERIOD = timedelta(days=7)
POLICY_NOTICE_CITATION = "the clinic's privacy policy, section 12"

#: The night, in the clinic's hours: from NIGHT_START:00 to NIGHT_END:00 the next morning.
NIGHT_START, NIGHT_END = 21, 8
NIGHT_CITATION = "Network Act Art. 50(3)"


def at_night(moment: datetime, clinic_zone: ZoneInfo) -> bool:
    """Whether ``moment`` falls in the night-time hours of the clinic's day."""
    return not NIGHT_END <= moment.astimezone(clinic_zone).hour < NIGHT_START
