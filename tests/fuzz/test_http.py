"""Fuzz every operation of the three services' OpenAPI documents with schemathesis, over real HTTP.

For each operation, schemathesis generates valid (positive) and invalid (negative) requests from
the service's own ``/openapi.json``; each is sent with a key of a role the operation admits (so it
gets past authentication) and its answer must pass schemathesis' checks:

* no 5xx, ever;
* the status code and content type are documented for the operation, and the body matches the
  documented schema;
* invalid input is refused (4xx), valid input is not refused for being invalid;
* an error is an RFC 9457 problem (``application/problem+json`` with ``type``, ``title``,
  ``status`` equal to the HTTP status).

Operations with ids in their path run twice: with generated ids, and with the ids of real
resources (seeded in ``conftest.py``) so fuzzed bodies and queries reach the handlers' rules.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
import requests

from tests.fuzz.conftest import EXAMPLES, FuzzStack, hypothesis_settings, seeded
from tests.test_authorization import KEYS, declared_access, openapi_operations

#: Where a status is acceptable for valid input besides schemathesis' default (2xx, 401, 403, 404,
#: 409, 429): 422 is also a rule of the domain no JSON Schema states (a policy version 7 days
#: ahead, a purpose the catalogue lacks, a task for another system), and 410 an erased subject.
POSITIVE_ALSO = ["410", "422"]

#: Path parameter -> the seeded resource it names.
REAL_IDS = {
    "subject_id": "subject_id", "record_id": "record_id", "policy_id": "policy_id", "purpose": "purpose",
    "request_id": "request_id", "task_id": "task_id", "notification_id": "notification_id",
    "system_id": "system_id", "key_id": "key_id", "breach_id": "breach_id",
}

_tally: Counter[str] = Counter()
_tally_lock = threading.Lock()

# schemathesis and Hypothesis disagree about a random module inside strategies; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def _operations() -> list[Any]:
    return [pytest.param(service, method, path, id=f"{service} {method} {path}")
            for service, method, path, _ in openapi_operations()]


def _key_for(service: str, method: str, path: str) -> dict[str, str]:
    """A key of a role the operation admits (anyone: a staff key, which public routes also take)."""
    access = declared_access(service, method, path)
    for role in ("system", "staff", "privacy_manager"):
        if role in access.roles:
            return {"Authorization": f"Bearer {KEYS[role]}"}
    if access.notifier:  # the notifier's own key alone (a requester's contact)
        return {"Authorization": "Bearer dev-notifier"}
    return {}


def _string_param(schema: dict) -> bool:
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return any(option.get("type") == "string" and not option.get("enum") and not option.get("format")
               and not option.get("pattern") for option in options)


def _negation_lost_in_the_query(case) -> bool:
    """A number or boolean generated for a free-text query parameter is, once in the URL, a valid
    string: such a case is not invalid input (schemathesis misses this for ``anyOf`` schemas)."""
    if case.meta is None or not case.meta.generation.mode.is_negative or not case.query:
        return False
    if type(case.body).__name__ != "NotSet" or (case.path_parameters and "{" in case.operation.path and \
            any(not isinstance(v, str) for v in case.path_parameters.values())):
        return False
    params = {p.get("name"): p.get("schema", {}) for p in case.operation.definition.raw.get("parameters", [])
              if p.get("in") == "query"}
    if not set(case.query) <= set(params):
        return False
    mutated = [k for k, v in case.query.items() if not isinstance(v, str)]
    return bool(mutated) and all(isinstance(case.query[k], (int, float, bool)) and _string_param(params[k])
                                 for k in mutated)


def _problem_check(ctx, response, case) -> bool | None:
    """Every error is an RFC 9457 problem whose ``status`` is the HTTP status."""
    if response.status_code < 400:
        return None
    kind = response.headers.get("content-type", [""])
    kind = (kind[0] if isinstance(kind, list) else kind).split(";")[0].strip()
    assert kind == "application/problem+json", f"error {response.status_code} is {kind!r}, not a problem"
    body = response.json()
    assert isinstance(body, dict), "a problem is a JSON object"
    for name in ("type", "title", "status"):
        assert name in body, f"the problem has no '{name}'"
    assert body["status"] == response.status_code, "the problem's status is not the HTTP status"
    return True


_session = requests.Session()


def schema_of(base: str):
    """The service's OpenAPI document as schemathesis reads it, every check loaded, with the
    statuses valid input may also get (:data:`POSITIVE_ALSO`)."""
    import schemathesis
    from schemathesis.checks import load_all_checks

    load_all_checks()
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    schema.config.checks.positive_data_acceptance.expected_statuses = [
        *schema.config.checks.positive_data_acceptance.expected_statuses, *POSITIVE_ALSO]
    return schema


def validate(case, response, **options) -> None:
    """schemathesis' checks and :func:`_problem_check` on an answer, except the negative-data check
    for a case whose invalid value became valid text in the query (:func:`_negation_lost_in_the_query`)."""
    from schemathesis.specs.openapi.checks import negative_data_rejection

    excluded = [negative_data_rejection] if _negation_lost_in_the_query(case) else []
    case.validate_response(response, additional_checks=[_problem_check], excluded_checks=excluded, **options)


def _fuzz(stack: FuzzStack, service: str, method: str, path: str, *, real_ids: bool) -> None:
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    base = stack.url(service)
    schema = schema_of(base)
    operation = schema[path][method.upper()]
    headers = _key_for(service, method, path)
    path_parameters = None
    if real_ids:
        names = [p.name for p in operation.path_parameters]
        path_parameters = {n: stack.ids[REAL_IDS[n]] for n in names}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

        @seeded
        @hypothesis_settings()
        @given(case=strategy)
        def run(case) -> None:
            response = case.call(base_url=base, session=_session, headers=headers, timeout=30)
            with _tally_lock:
                _tally[f"{service} {method} {path}"] += 1
                _tally[f"status {response.status_code}"] += 1
            validate(case, response, headers=headers)

        try:
            run()
        except Unsatisfiable:
            # Nothing can be invalid (no body, and parameters that take any string): no negative case.
            assert mode is GenerationMode.NEGATIVE and not operation.body, f"{path}: no {mode} case"
            with _tally_lock:
                _tally["no invalid input possible"] += 1


@pytest.mark.parametrize(("service", "method", "path"), _operations())
def test_operation(fuzz_stack: FuzzStack, service: str, method: str, path: str) -> None:
    _fuzz(fuzz_stack, service, method, path, real_ids=False)
    if "{" in path:
        _fuzz(fuzz_stack, service, method, path, real_ids=True)


def test_zz_summary(fuzz_stack: FuzzStack) -> None:
    """Prints what was tried (shown with ``-s``, as ``make fuzz`` runs it)."""
    operations = {k: v for k, v in _tally.items() if k.split()[0] in ("consent", "dsr", "notifier")}
    statuses = {k: v for k, v in sorted(_tally.items()) if k.startswith("status ")}
    print(f"\nHTTP fuzzing: {len(operations)} operations, {sum(operations.values())} requests "
          f"({EXAMPLES} examples per operation and mode)")
    for name, count in sorted(operations.items()):
        print(f"  {count:6d}  {name}")
    print("  statuses: " + ", ".join(f"{k.split()[1]}: {v}" for k, v in statuses.items()))
    assert operations or not openapi_operations(), "no operation was fuzzed"
