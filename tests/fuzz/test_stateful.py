"""schemathesis' stateful phase: sequences of linked calls over real HTTP, per service.

schemathesis infers the links between operations from the OpenAPI documents (a response's
fields and the path parameters they fill: the requests and notifications just listed, the policy
just published), then lets Hypothesis chain them: list requests, read one, decide it, extend it,
read its result... Each call is sent with a key
of a role its operation admits, and every answer must pass the same checks as the stateless
fuzzer (``test_http.py``): no 5xx, documented status and schema, invalid input refused, valid
input not refused, errors as RFC 9457 problems.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.fuzz.conftest import EXAMPLES, FuzzStack, hypothesis_settings, seeded
from tests.fuzz.test_http import _key_for, _session, schema_of, validate

#: Calls per scenario (Hypothesis' ``stateful_step_count``).
STEPS = 8

# schemathesis and Hypothesis disagree about a random module inside strategies; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

@pytest.mark.parametrize("service", ["consent", "dsr", "notifier"])
def test_linked_calls(fuzz_stack: FuzzStack, service: str) -> None:
    base = fuzz_stack.url(service)
    machine = schema_of(base).as_state_machine()
    links = list(getattr(machine, "bundles", {}) or {})
    assert links, f"schemathesis found no links between {service}'s operations"
    calls: Counter[str] = Counter()

    class Scenario(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            return {"base_url": base, "session": _session, "timeout": 30,
                    "headers": _key_for(service, case.method, case.path)}

        def after_call(self, response, case):
            super().after_call(response, case)
            calls[f"{case.method} {case.path}"] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            validate(case, response, transport_kwargs=kwargs or None)

    seeded(lambda: Scenario.run(settings=hypothesis_settings(stateful_step_count=STEPS)))()
    # An operation with a parameter in its path is reached only through a link: its id came from an
    # earlier answer. The consent service's two producers (a policy, a consent event) need data no
    # schema states (a version a week ahead, purposes of the catalogue, a published policy), so
    # random scenarios there rarely make anything to link from: the stateless fuzzer with the
    # seeded real ids covers its other operations.
    followed = [op for op in calls if "{" in op]
    if service != "consent":
        assert followed, f"no call of {service} followed a link: {dict(calls)}"
    print(f"\nstateful {service}: {len(links)} link sources, {sum(calls.values())} calls over "
          f"{len(calls)} operations ({EXAMPLES} scenarios of up to {STEPS} calls)")
    for name, count in sorted(calls.items()):
        print(f"  {count:5d}  {name}")
