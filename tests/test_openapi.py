"""The services' OpenAPI documents say who may call each operation, and where the service is.

Pure tests (the apps are built, not started). Redocly's lint of the same documents is
``make openapi-lint`` (``deploy/openapi_lint.py``, needs Node); these keep what it found from
coming back without it, and tie each operation's ``security`` to the access table of
``tests/test_authorization.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.runtime import servers
from tests.test_authorization import _apps, declared_access

PORTS = {"consent": 8001, "dsr": 8002, "notifier": 8003}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items()]


@pytest.mark.parametrize("service", ["consent", "dsr", "notifier"])
def test_every_operation_says_which_credentials_it_takes(service: str) -> None:
    document = _apps()[service].openapi()
    schemes = set(document["components"]["securitySchemes"])
    for method, path, operation in _operations(document):
        label = f"{service} {method} {path}"
        assert "security" in operation, f"{label}: no security (use [] for an operation that takes no key)"
        security = operation["security"]
        for requirement in security:
            assert set(requirement) <= schemes, f"{label}: {requirement} names an undefined scheme"
        access = declared_access(service, method, path)
        if access.public and not access.roles:
            assert security == [], label
        elif access.public:
            assert {} in security and {"HTTPBearer": []} in security, f"{label}: a key is optional"
        elif access.token:
            assert security == [{"HTTPBearer": []}, {"RequesterToken": []}], label
        else:
            assert security == [{"HTTPBearer": []}], label


@pytest.mark.parametrize("service", ["consent", "dsr", "notifier"])
def test_the_document_names_the_server(service: str) -> None:
    app = _apps()[service]
    settings = app.state.settings
    assert app.openapi()["servers"] == servers(settings)
    # With the defaults, the documented ports.
    assert [s["url"] for s in servers(type(settings).model_construct())] == [
        "/", f"http://127.0.0.1:{PORTS[service]}"]


def test_a_server_listening_on_every_address_is_documented_on_the_loopback() -> None:
    from services.consent.settings import ConsentSettings

    def listening(**settings: Any) -> str:
        return servers(ConsentSettings.model_construct(**settings))[1]["url"]

    assert listening(host="0.0.0.0") == "http://127.0.0.1:8001"
    assert listening(host="::1", port=9) == "http://[::1]:9"
    assert listening(host="consent.internal") == "http://consent.internal:8001"


@pytest.mark.parametrize("service", ["consent", "dsr", "notifier"])
def test_health_schema_defines_what_it_requires(service: str) -> None:
    operation = _apps()[service].openapi()["paths"]["/healthz"]["get"]
    for status in ("200", "503"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert set(schema["required"]) <= set(schema["properties"])
        checks = schema["properties"]["checks"]
        assert set(checks["required"]) <= set(checks["properties"])
    assert "422" in operation["responses"], "an unknown query parameter is refused here too"
