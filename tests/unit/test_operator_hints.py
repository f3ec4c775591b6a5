"""A loop that fails on the broker's refusal of its settings or rights says what to change."""

from __future__ import annotations

import logging

import pytest
from aiokafka import errors as kafka_errors

from shared.loops import operator_hint, pause_after


@pytest.mark.parametrize(("error", "names"), [
    (kafka_errors.InvalidSessionTimeoutError(), "KAFKA_SESSION_TIMEOUT_MS"),
    (kafka_errors.TopicAuthorizationFailedError(), "ACLs"),
    (kafka_errors.GroupAuthorizationFailedError(), "consumer group"),
    (kafka_errors.ClusterAuthorizationFailedError(), "IdempotentWrite"),
    (kafka_errors.SaslAuthenticationFailed(), "KAFKA_SASL_USERNAME"),
])
def test_a_refusal_only_an_operator_can_mend_names_the_setting(error, names) -> None:
    assert names in (operator_hint(error) or "")


def test_an_outage_has_no_hint() -> None:
    assert operator_hint(kafka_errors.KafkaConnectionError()) is None
    assert operator_hint(ConnectionRefusedError()) is None


async def test_the_hint_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shared.loops"):
        await pause_after("consumer inbound", kafka_errors.InvalidSessionTimeoutError(), 0)
        await pause_after("consumer inbound", kafka_errors.KafkaConnectionError(), 0)
    (refused, outage) = caplog.records
    assert refused.levelno == logging.ERROR and "group.min.session.timeout.ms" in refused.getMessage()
    assert outage.levelno == logging.WARNING
