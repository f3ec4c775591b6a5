"""What a requester reads, in each language: the reference and the deadline, the ground's words and
citation, how to object, the remedies with their contacts, what is needed; the link only as the
delivery gives it, and nothing the requester did not give or was not given."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime

import pytest

from services.notifier.kinds import DEFAULT_KINDS, REQUESTER_KINDS, Kind
from services.notifier.render import LANGUAGES
from services.notifier.requesters import mask
from services.notifier.settings import Recipient
from shared import i18n
from shared.rules import grounds
from tests.notifier.test_messages import RENDERER, REQUEST

DUE = {"ko": "2026년 11월 10일 18:00 KST", "en": "10 Nov 2026, 18:00 KST", "vi": "18:00 KST ngày 10/11/2026"}
FACTS = {
    Kind.requester_received: {**REQUEST, "type": "access"},
    Kind.requester_extended: {**REQUEST, "ground": "kr-ext-retrieval"},
    Kind.requester_rejected: {**REQUEST, "ground": "kr-access-others"},
    Kind.requester_information_needed: {**REQUEST, "needed": "power_of_attorney"},
    Kind.requester_result_ready: {**REQUEST, "type": "complaint", "outcome": "completed"},
}
NEEDS = {"ko": "위임장", "en": "a power of attorney", "vi": "giấy ủy quyền"}
ANSWER_READY = {"ko": "민원에 대한 답변이 준비되었습니다", "en": "The answer to your complaint is ready",
                "vi": "Đã có câu trả lời cho khiếu nại của bạn"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(REQUESTER_KINDS))
def test_every_requester_kind_says_what_the_requester_needs_in_their_language(kind: Kind, language: str) -> None:
    text = RENDERER.render(kind, FACTS[kind], language)
    everything = " ".join([text.title, text.summary, text.action])
    assert "DSR-2026-K7M2P" in text.title and text.link is None
    # Nothing written by staff, and no one's name, address or id: codes and the catalogue's words.
    for internal in ("dev-staff", "dev-manager", "emr", REQUEST["request_id"], "dash.example"):
        assert internal not in everything, (internal, everything)
    if kind is Kind.requester_received:
        assert DUE[language] in text.summary
    if kind is Kind.requester_extended:
        ground = grounds.GROUNDS["kr-ext-retrieval"]
        assert ground.text(language) in text.summary and i18n.citation(language, ground.citation) in text.summary
        assert DUE[language] in text.summary
        assert grounds.how_to_object("extension", language) in text.action
    if kind is Kind.requester_rejected:
        ground = grounds.GROUNDS["kr-access-others"]
        assert ground.text(language) in text.summary and i18n.citation(language, ground.citation) in text.summary
        assert grounds.how_to_object("refusal", language) in text.action
        for remedy in grounds.remedies(["KR"]):
            assert remedy.name(language) in text.action and str(remedy.phone) in text.action
    if kind is Kind.requester_information_needed:
        assert NEEDS[language] in text.summary
    if kind is Kind.requester_result_ready:
        assert ANSWER_READY[language] in text.title


def test_a_childs_own_request_is_told_a_guardian_must_join() -> None:
    text = RENDERER.render(Kind.requester_received, {**REQUEST, "child_own_request": True}, "en")
    assert "parent or legal guardian" in text.action


def test_the_requesters_kinds_go_to_the_requester_alone() -> None:
    assert not REQUESTER_KINDS & DEFAULT_KINDS
    assert Kind.acknowledgement_overdue in DEFAULT_KINDS and Kind.requester_not_told in DEFAULT_KINDS
    with pytest.raises(ValueError, match="requester alone"):
        Recipient(id="cpo", name="CPO", kinds=["requester_received"])


def test_the_requesters_email_carries_the_link_it_is_given_and_their_words() -> None:
    text = RENDERER.render(Kind.requester_result_ready, FACTS[Kind.requester_result_ready], "vi")
    notification = {
        "notification_id": uuid.uuid4(), "kind": "requester_result_ready", "language": "vi", "title": text.title,
        "summary": text.summary, "action": text.action, "link": None, "facts": FACTS[Kind.requester_result_ready],
        "created_at": datetime(2026, 11, 9, tzinfo=UTC),
    }
    link = "https://clinic.example/portal/r/abc#t=secret-token"
    message = RENDERER.email(notification, to_name="", to_address="lan@example.com",
                             sender="Clinic <privacy@clinic.example>", link=link)
    message = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    plain = message.get_body(("plain",)).get_content()
    assert message["To"] == "lan@example.com"
    assert link in plain and "Xem yêu cầu của bạn" in plain and "Bước tiếp theo" in plain
    assert "không chứa thông tin bạn yêu cầu" in plain  # the requester's footer, not the staff's
    assert RENDERER.sms(notification, link).endswith(link) and "DSR-2026-K7M2P" in RENDERER.sms(notification, link)


def test_addresses_are_masked_in_logs() -> None:
    assert mask("lan@example.com") == "l…@example.com"
    assert mask("010-1234-5678") == "…78"
