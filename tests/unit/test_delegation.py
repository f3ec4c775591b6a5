"""A dashboard call names the signed-in person (shared/delegation.py): believed only when signed
with the deployment's secret, for this service, within its minute, and from a key that acts for
people; the person never gets more than the key's role."""

from __future__ import annotations

import time

import pytest

from shared import delegation
from shared.auth import KeyRing
from shared.digests import sha256_hex
from shared.problems import Forbidden, Unauthorized
from shared.settings import ApiKey, Role

SECRET = delegation.parse_secret(delegation.DEVELOPMENT_SECRET)
KEYS = [
    ApiKey(name="dashboard-manager", role=Role.privacy_manager, key_sha256=sha256_hex("dash-m"), acts_for_people=True),
    ApiKey(name="dashboard-staff", role=Role.staff, key_sha256=sha256_hex("dash-s"), acts_for_people=True),
    ApiKey(name="a-script", role=Role.privacy_manager, key_sha256=sha256_hex("script")),
]
RING = KeyRing(KEYS, delegation=(SECRET, "consent"))


def _as(person: str, role: str, **options) -> str:
    return delegation.sign(delegation.Person(person, role), secret=options.pop("secret", SECRET),
                           audience=options.pop("audience", "consent"), **options)


def test_the_signed_in_person_acts_through_the_dashboards_key() -> None:
    principal = RING.authenticate("Bearer dash-m", _as("kim", "privacy_manager"))
    assert (principal.name, principal.role, principal.via) == ("kim", Role.privacy_manager, "dashboard-manager")


def test_a_person_never_gets_more_than_their_own_role_or_the_keys() -> None:
    assert RING.authenticate("Bearer dash-m", _as("lee", "staff")).role is Role.staff
    assert RING.authenticate("Bearer dash-s", _as("kim", "privacy_manager")).role is Role.staff


@pytest.mark.parametrize("assertion", [
    _as("kim", "privacy_manager", secret=b"another secret of thirty-two byte"),  # forged
    _as("kim", "privacy_manager", audience="notifier"),  # for another service
    _as("kim", "privacy_manager", now=time.time() - 3600),  # long expired
    _as("kim", "system"),  # not a person's role
    "not.a.jwt",
])
def test_an_assertion_that_does_not_hold_is_a_401(assertion: str) -> None:
    with pytest.raises(Unauthorized):
        RING.authenticate("Bearer dash-m", assertion)


def test_only_a_key_that_acts_for_people_may_name_one() -> None:
    with pytest.raises(Forbidden):
        RING.authenticate("Bearer script", _as("kim", "privacy_manager"))
