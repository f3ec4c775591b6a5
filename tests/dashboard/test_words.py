"""Every page a person reads, in Korean, English and Vietnamese, with the example clinic's data: no
code where words belong, no English law on a Korean or Vietnamese page (issue 21).

One stack with the example systems answering: a Vietnamese mother's access request for her child,
completed; a Korean patient's erasure, partly kept by law; a refused correction in English; a
withdrawn marketing consent and its destruction; a breach. Then every portal page, every dashboard
page, the printable result and every notifier message is read in each language, as text (what a
reader sees: the markup, scripts and attributes aside), and searched for what a reader should never
see (:func:`untranslated`).
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from pypdf import PdfReader

from services.notifier.kinds import Kind
from shared.i18n import LANGUAGES
from tests.dsr.breach_factories import breach_body, record_breach
from tests.dsr.conftest import clinic  # noqa: F401
from tests.dsr.factories import approve, file, request_body, verify
from tests.notifier.test_messages import RENDERER, facts_of
from tests.support import MANAGER, STAFF, SYSTEM, consent_event, eventually

pytestmark = pytest.mark.slow

#: A code shown as it is stored: two or more lowercase words joined by underscores.
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
#: A law cited in English: what a Korean or Vietnamese page must say in its own language.
ENGLISH_LAW = re.compile(r"\b(?:Art|Arts|art|arts)\.\s*\d|\b(?:Act|Decree|Enforcement Rule|Enforcement Decree)\b")


#: What is not read as words: scripts and styles, and ``<code>``: an identifier shown as one (a
#: system's id beside its name, a hash), never a value that needs words.
HIDDEN = ("script", "style", "template", "code")
#: Elements without an end tag.
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class _Text(HTMLParser):
    """The text a reader sees: no tags, attributes, scripts or styles (nor identifiers, HIDDEN)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._open: list[str] = []  # the tags open inside a hidden one

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        # translate="no" (HTML): text shown as a clinic system wrote it (a note), not ours to word.
        if tag in VOID:
            return
        if tag in HIDDEN or ("translate", "no") in attrs or self._open:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag not in VOID:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._open:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def untranslated(text: str, lang: str) -> list[str]:
    """What a reader of ``lang`` should not see in ``text``: codes, and (ko/vi) English law."""
    found = sorted(set(SNAKE.findall(text)))
    if lang != "en":
        found += [f"English law: …{text[max(0, m.start() - 40):m.end() + 20]}…" for m in ENGLISH_LAW.finditer(text)]
    return found


@pytest.fixture
def stack(dash):  # `clinic` asks for `stack`: give it the dashboard's (a Stack too)
    return dash


async def _destroyed(dash) -> bool:
    return bool((await dash.dsr.get("/v1/destructions", headers=MANAGER)).json())


async def _completed(dash, request_id: str) -> bool:
    status = (await dash.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()["status"]
    return status in ("completed", "partially_completed")


async def test_every_page_speaks_its_readers_language(dash, clinic, manager):
    await clinic()
    # The mother's access request for her daughter, in Vietnamese, completed by the example systems.
    child = await file(dash, request_body(language="vi", name="Phạm Minh Anh", birth_date="2016-05-05",
                                          subject_id="patient-2002", relationship="legal_representative",
                                          requester_name="Nguyễn Thị Lan", contact="lan@example.com"))
    await verify(dash, child["request_id"], subject_id="patient-2002", representative=True)
    await approve(dash, child["request_id"])
    # A Korean patient's erasure: the medical record stays, by law.
    erasure = await file(dash, request_body(type="erasure", subject_id="patient-1001", name="김서연",
                                            birth_date="1990-04-01"))
    await verify(dash, erasure["request_id"], subject_id="patient-1001")
    await approve(dash, erasure["request_id"])
    # A correction refused, in English.
    refused = await file(dash, request_body(type="rectification", language="en", subject_id="patient-3003",
                                            name="Nguyen Van Hung", birth_date="1984-11-30",
                                            details={"corrections": [{"item": "address", "corrected": "Hanoi"}]}))
    await verify(dash, refused["request_id"], subject_id="patient-3003")
    response = await dash.dsr.post(f"/v1/requests/{refused['request_id']}/decision", headers=MANAGER, json={
        "decision": "reject", "ground": "kr-correction-accurate", "legal_ground": "Checked against the registration"})
    assert response.status_code == 200, response.text
    breach = await record_breach(dash, breach_body())
    # A marketing consent withdrawn: its data is destroyed in the systems holding it (the log).
    for kind in ("consent.granted", "consent.withdrawn"):
        response = await dash.consent.post("/v1/consent-events", headers=SYSTEM, json=consent_event(
            type=kind, subject_id="patient-4004", purpose="marketing_sms"))
        assert response.status_code == 201, response.text
    for done in (child, erasure):
        await eventually(lambda done=done: _completed(dash, done["request_id"]), timeout=30)
    await eventually(lambda: _destroyed(dash), timeout=30)

    found: dict[str, list[str]] = {}

    def check(where: str, lang: str, text: str) -> None:
        if bad := untranslated(text, lang):
            found[f"{where} [{lang}]"] = bad

    for lang in LANGUAGES:
        # The portal: the form, what it says once filed, and each requester's status page and report.
        check("portal form", lang, text_of((await dash.dsr.get(f"/portal/?lang={lang}")).text))
        filed = await dash.dsr.post("/portal/requests", data={
            "lang": lang, "type": "access", "who": "self", "residence": "VN", "name": "Lê Văn Tám",
            "birth_date": "1988-02-03", "contact": "tam@example.com"})
        assert filed.status_code == 200, filed.text
        check("portal filed", lang, text_of(filed.text))
        for filed in (child, erasure, refused):
            page = await dash.dsr.post(f"/portal/r/{filed['request_id']}",
                                       data={"token": filed["token"], "lang": lang})
            assert page.status_code == 200, page.text
            check(f"portal status {filed['reference']}", lang, text_of(page.text))
            pdf = await dash.dsr.post(f"/portal/r/{filed['request_id']}/report",
                                      data={"token": filed["token"], "lang": lang})
            assert pdf.headers["content-type"] == "application/pdf", pdf.text
            text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
            check(f"PDF {filed['reference']}", lang, " ".join(text.split()))
        # The dashboard, as the privacy manager reads it.
        pages = ["/dashboard/", "/dashboard/inbox", "/dashboard/systems", "/dashboard/policies",
                 "/dashboard/breaches", f"/dashboard/breaches/{breach['breach_id']}", "/dashboard/destructions",
                 "/dashboard/subjects?subject_id=patient-2002", "/dashboard/subjects?subject_id=patient-1001",
                 *(f"/dashboard/requests/{r['request_id']}" for r in (child, erasure, refused))]
        subject = (await manager.get("/dashboard/subjects/patient-4004")).text
        pages.append(re.search(r'href="(/dashboard/receipts/[^"]+)"', subject).group(1))  # a consent's receipt
        pages.append("/dashboard/systems/emr/keys")
        for path in pages:
            page = await manager.get(path + ("&" if "?" in path else "?") + f"lang={lang}", follow_redirects=True)
            assert page.status_code == 200, (path, page.status_code)
            check(f"dashboard {path}", lang, text_of(page.text))
        # Every notifier message, as its email reads.
        for kind in Kind:
            rendered = RENDERER.render(kind, facts_of(kind), lang)
            rows = " ".join(f"{k} {v}" for k, v in RENDERER.rows(kind, facts_of(kind), lang))
            check(f"message {kind.value}", lang, f"{rendered.title} {rendered.summary} {rendered.action} {rows}")
    assert found == {}, "\n".join(f"{where}: {bad}" for where, bad in sorted(found.items()))


def test_the_search_finds_codes_and_english_law():
    assert untranslated("상태: in_review", "ko") == ["in_review"]
    assert untranslated("Medical Service Act Art. 22", "vi")
    assert untranslated("의료법 제22조 · patient-2002 · DSR-2026-00001", "ko") == []
    assert untranslated("Medical Service Act Art. 22", "en") == []
