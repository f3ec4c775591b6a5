"""A loop that fails on the broker's refusal of its settings or rights says what to change."""

from __future__ import annotations

import logging

import pytest
from aiokafka import errors as kafka_errors

from shared.kafka import LoginRefused, login_refused
from shared.loops import operator_hint, pause_after


@pytest.mark.parametrize(("error", "names"), [
    (kafka_errors.InvalidSessionTimeoutError(), "KAFKA_SESSION_TIMEOUT_MS"),
    (kafka_errors.TopicAuthorizationFailedError(), "ACLs"),
    (kafka_errors.GroupAuthorizationFailedError(), "consumer group"),
    (kafka_errors.ClusterAuthorizationFailedError(), "IdempotentWrite"),
    (kafka_errors.SaslAuthenticationFailed(), "KAFKA_SASL_USERNAME"),
    # What a service raises when the broker refused its login (aiokafka: "Unable to bootstrap").
    (LoginRefused("dongui-consent", kafka_errors.SaslAuthenticationFailed()), "KAFKA_SASL_PASSWORD"),
])
def test_a_refusal_only_an_operator_can_mend_names_the_setting(error, names) -> None:
    assert names in (operator_hint(error) or "")


def test_an_outage_has_no_hint() -> None:
    assert operator_hint(kafka_errors.KafkaConnectionError()) is None
    assert operator_hint(ConnectionRefusedError()) is None


async def test_without_sasl_a_failure_to_bootstrap_is_never_a_refused_login() -> None:
    assert await login_refused({"bootstrap_servers": "127.0.0.1:9", "security_protocol": "PLAINTEXT"}) is None


async def test_the_hint_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shared.loops"):
        await pause_after("consumer inbound", kafka_errors.InvalidSessionTimeoutError(), 0)
        await pause_after("consumer inbound", kafka_errors.KafkaConnectionError(), 0)
    (refused, outage) = caplog.records
    assert refused.levelno == logging.ERROR and "group.min.session.timeout.ms" in refused.getMessage()
    assert outage.levelno == logging.WARNING


async def test_with_sasl_a_broker_that_is_away_is_an_outage_not_a_refused_login() -> None:
    from deploy.local_infra import free_port

    options = {"bootstrap_servers": f"127.0.0.1:{free_port()}", "security_protocol": "SASL_PLAINTEXT",
               "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "dongui-consent",
               "sasl_plain_password": "its password"}
    assert await login_refused(options, timeout=2) is None
