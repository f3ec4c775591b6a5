"""Who is told what is configuration: recipients from the environment or a file, checked at start."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.notifier.kinds import DEFAULT_KINDS, Kind
from services.notifier.settings import NotifierSettings

SECRET = "0123456789abcdef0123"


def test_by_default_the_privacy_manager_is_told_in_korean_in_the_inbox_only(monkeypatch) -> None:
    settings = NotifierSettings()
    [manager] = settings.recipients
    assert (manager.id, manager.language, manager.email, manager.webhook_url) == ("privacy-manager", "ko", None, None)
    assert all(manager.wants(kind) for kind in DEFAULT_KINDS)
    assert not manager.wants(Kind.request_completed)
    assert settings.port == 8003 and not settings.email_enabled
    assert settings.effective_smtp_port == 587 and settings.timezone == "Asia/Seoul"


def test_recipients_and_smtp_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("NOTIFIER_RECIPIENTS", json.dumps([
        {"id": "cpo", "name": "개인정보 보호책임자", "language": "ko", "email": "cpo@clinic.example"},
        {"id": "chat", "name": "Chat", "language": "en", "webhook_url": "https://chat.example/hook",
         "webhook_secret": SECRET, "inbox": False, "kinds": ["dead_letter", "deadline_missed"]},
    ]))
    monkeypatch.setenv("NOTIFIER_SMTP_HOST", "smtp.clinic.example")
    monkeypatch.setenv("NOTIFIER_SMTP_TLS", "tls")
    monkeypatch.setenv("NOTIFIER_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("NOTIFIER_RETRY_INITIAL", "PT10S")
    settings = NotifierSettings()
    assert [r.id for r in settings.recipients] == ["cpo", "chat"]
    chat = settings.recipient("chat")
    assert chat.wants(Kind.dead_letter) and not chat.wants(Kind.guardian_request)
    assert settings.email_enabled and settings.effective_smtp_port == 465
    assert "hunter2" not in repr(settings) and SECRET not in repr(settings)
    assert settings.backoff(1) == timedelta(seconds=10) and settings.backoff(3) == timedelta(seconds=40)
    assert settings.backoff(60) == timedelta(hours=1)  # capped


def test_recipients_file_yaml(tmp_path, monkeypatch) -> None:
    path = tmp_path / "recipients.yaml"
    path.write_text("recipients:\n  - {id: vi-staff, name: Nhân viên, language: vi, email: nv@clinic.example}\n",
                    encoding="utf-8")
    monkeypatch.setenv("NOTIFIER_RECIPIENTS_FILE", str(path))
    [staff] = NotifierSettings().recipients
    assert (staff.id, staff.language) == ("vi-staff", "vi")


@pytest.mark.parametrize("recipients, message", [
    ([{"id": "a", "name": "A", "webhook_url": "https://x.example/h"}], "webhook_secret"),
    ([{"id": "a", "name": "A", "webhook_url": "https://x.example/h", "webhook_secret": "short"}], "webhook_secret"),
    ([{"id": "a", "name": "A"}, {"id": "a", "name": "B"}], "unique"),
    ([{"id": "a", "name": "A", "language": "fr"}], "language"),
    ([{"id": "a", "name": "A", "kinds": ["gossip"]}], "kinds"),
    ([{"id": "a", "name": "A", "email": "not an address"}], "email"),
])
def test_a_wrong_recipient_stops_the_start(recipients, message) -> None:
    with pytest.raises(ValidationError, match=message):
        NotifierSettings(recipients=recipients)


def test_the_lease_must_outlast_an_attempt() -> None:
    with pytest.raises(ValidationError, match="LEASE"):
        NotifierSettings(delivery_timeout=timedelta(seconds=30), delivery_lease=timedelta(seconds=45))


def test_webhook_urls_are_shown_by_their_origin_only() -> None:
    from services.notifier.channels import shown_url

    assert shown_url("https://hooks.chat.example/services/T000/B000/XXXX") == "https://hooks.chat.example/…"
    assert shown_url("https://user:pw@receiver.example:8443/?token=abc") == "https://receiver.example:8443/…"
    assert shown_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"


def test_the_notifiers_development_key_to_the_request_service_is_refused_outside_development() -> None:
    production = {"DONGUI_ENVIRONMENT": "production", "master_key": "A" * 43 + "=",
                  "DONGUI_DELEGATION_SECRET": "B" * 43 + "="}
    with pytest.raises(ValidationError, match="NOTIFIER_DSR_API_KEY"):
        NotifierSettings(**production)
    assert NotifierSettings(**production, dsr_api_key="a-key-of-its-own").tell_requesters


def test_the_sms_sender_is_chosen_by_setting() -> None:
    from services.notifier.requesters import LoggingSmsSender, sms_sender

    assert isinstance(sms_sender(NotifierSettings()), LoggingSmsSender)
    plugged = sms_sender(NotifierSettings(sms_sender="tests.notifier.test_settings:gateway"))
    assert plugged.name == "clinic-gateway"
    with pytest.raises(ValidationError, match="sms_sender"):
        NotifierSettings(sms_sender="rm -rf /")


class _Gateway:
    name = "clinic-gateway"

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    async def send(self, number: str, text: str) -> None:  # pragma: no cover (chosen, never sent)
        raise NotImplementedError


def gateway(settings: NotifierSettings) -> _Gateway:
    """What a clinic's NOTIFIER_SMS_SENDER=package.module:factory names."""
    return _Gateway(settings)
