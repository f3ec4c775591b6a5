"""The breach register's refusals (status and title by their base; field and reason)."""

from __future__ import annotations

from shared.problems import Conflict, InvalidInput, NotFound


class UnknownBreach(NotFound):
    pass


class BreachClosed(Conflict):
    """A closed breach is evidence: nothing more is recorded on it."""


class StillOutstanding(Conflict):
    """A breach is closed as handled only once everyone who must be told was told."""


class BadMoment(InvalidInput):
    """A time that cannot be right: in the future, before 1990, or before the leak was found."""


class ImpliedFlag(InvalidInput):
    """A flag said false while the data leaked makes it true (health data is sensitive)."""


class CountTooLow(InvalidInput):
    """Fewer people affected than the subjects listed, or than were already told."""
