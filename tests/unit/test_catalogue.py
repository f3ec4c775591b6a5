"""The one catalogue (shared/i18n): whole in every language, and the standard tools behind it."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from shared import i18n
from shared.i18n import tool


def test_the_catalogue_is_whole_in_every_language():
    """No empty translation, no placeholder one language lacks, every plural form, and every key
    the code and the templates use is in it (Babel's extractors find them)."""
    assert tool.problems() == []


def test_the_keys_the_code_uses_are_found():
    used = {key for key, _file, _line in tool.used_keys()}
    assert {"portal.site_title", "dashboard.nav.queue", "breach.notice.title"} <= used


def test_plural_forms_follow_each_language():
    assert i18n.ngettext("en", "portal.years", 1) == "1 year"
    assert i18n.ngettext("en", "portal.years", 10) == "10 years"
    assert i18n.ngettext("ko", "portal.years", 10) == "10년"
    assert i18n.ngettext("vi", "breach.people", 1200) == "1.200 người"
    assert i18n.ngettext("en", "breach.people", 1200) == "1,200 people"


@pytest.mark.parametrize(("lang", "long", "number"), [
    ("ko", "2026년 12월 5일", "1,234"),
    ("en", "5 December 2026", "1,234"),
    ("vi", "ngày 5 tháng 12 năm 2026", "1.234"),
])
def test_dates_and_numbers_are_written_as_each_language_writes_them(lang: str, long: str, number: str):
    assert i18n.format_date(lang, date(2026, 12, 5)) == long
    assert i18n.format_moment(lang, datetime(2026, 12, 5, 9, 5)) == long + " 09:05"
    assert i18n.number(lang, 1234) == number


def test_the_language_is_negotiated_once_for_every_surface():
    assert i18n.choose("vi", "en", accept_language="ko") == "vi"
    assert i18n.choose(None, "xx", accept_language="fr-FR,vi;q=0.8,en;q=0.9") == "en"
    assert i18n.negotiate("vi-VN,vi;q=0.9") == "vi"
    assert i18n.negotiate("fr, de;q=0.5") == i18n.DEFAULT == "ko"
    assert i18n.negotiate("en;q=0, vi;q=0.1") == "vi"


def test_a_missing_translation_falls_back_to_english_and_an_unknown_key_shows_itself():
    assert i18n.gettext("xx", "portal.language") == i18n.gettext("ko", "portal.language") == "언어"
    assert i18n.gettext("vi", "no.such.key") == "no.such.key"
    assert i18n.word("vi", "status", "verifying") != "verifying"
    assert i18n.word("vi", "status", "no_such_status") == "no_such_status"


def test_an_update_changes_nothing_in_a_whole_catalogue(tmp_path, monkeypatch):
    before = {lang: i18n.po_path(lang).read_bytes() for lang in i18n.LANGUAGES}
    try:
        tool.update()
        assert {lang: i18n.po_path(lang).read_bytes() for lang in i18n.LANGUAGES} == before
    finally:
        for lang, content in before.items():
            i18n.po_path(lang).write_bytes(content)


def test_every_law_the_rules_cite_is_cited_in_korean_and_vietnamese():
    """Korean law names in Korean, Vietnamese in Vietnamese: each citation of the rules has its own
    words in the catalogue (the English citation is the message id, in the ``citation`` context)."""
    from shared.rules import ages, deadlines, grounds, provisions, retention

    cited = {rc.citation for rc in retention.RETENTION_CLASSES.values()}
    cited |= {g.citation for g in grounds.GROUNDS.values()}
    cited |= {p.citation for p in provisions.PROVISION_GROUNDS.values()}
    cited |= {a.citation for a in ages.AGES.values()} | {a.citation for a in deadlines.ANSWER_TIMES.values()}
    for citation in cited:
        assert i18n.citation("en", citation) == citation
        for lang in ("ko", "vi"):
            assert i18n.citation(lang, citation) != citation, (lang, citation)
    assert i18n.citation("ko", "PIPA Art. 36(2)") == "「개인정보 보호법」 제36조제2항"
    assert i18n.citation("vi", "Decree 13/2023/ND-CP Art. 9") == "Điều 9 Nghị định 13/2023/NĐ-CP"


def test_said_is_read_in_each_language_and_survives_storage():
    said = i18n.Said("audit.asked", {"needed": ("category", ["name", "contact"])})
    again = i18n.Said.load(said.stored())
    assert again == i18n.Said("audit.asked", {"needed": ("category", ["name", "contact"])}, {})
    assert str(said) == "asked the requester for: name and phone number"
    assert again.read("vi") == "đã đề nghị người yêu cầu bổ sung: họ tên và số điện thoại"
    # A purpose's and a ground's words come from their rules, found without importing them first.
    assert i18n.word("ko", "purpose", "treatment") == "진료"
    assert i18n.said("en", None, "as written") == "as written"
