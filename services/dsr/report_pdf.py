"""The result of a request as a printable PDF, in the request's language (issue 21): the clinic, the
request, what each system found, what is kept and why, to whom data was provided, how to object.

Drawn with fpdf2 in DejaVu Sans (Latin and Vietnamese) with Nanum Gothic for Hangul, both embedded
as subsets (Debian's ``fonts-dejavu-core`` and ``fonts-nanum``; ``DSR_REPORT_FONT`` names one file
of the clinic's instead). The JSON stays the machine-readable result (data portability); this is the
one a parent prints or keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import anyio.to_thread
from fpdf import FPDF

from services.dsr import report_view
from services.dsr.portal.messages import LANGUAGES, format_moment, t
from shared.rules import grounds
from shared.rules.grounds import GROUNDS

#: The bodies a refused person may turn to, by id (their names in every language).
REMEDIES = {r.id: r for r in grounds.CATALOGUE.remedies}

#: Debian's fonts-dejavu-core (Latin and Vietnamese) and fonts-nanum (Korean): TrueType, so that the
#: PDF's text is read back and copied as it was written (an OpenType/CFF face such as Noto Sans CJK
#: embeds, but its text cannot be extracted).
TRUETYPE = Path("/usr/share/fonts/truetype")
FACES = {
    "": (TRUETYPE / "dejavu/DejaVuSans.ttf", TRUETYPE / "nanum/NanumGothic.ttf"),
    "B": (TRUETYPE / "dejavu/DejaVuSans-Bold.ttf", TRUETYPE / "nanum/NanumGothicBold.ttf"),
}


# fontTools says, for every report, which tables of a font it does not subset: nothing to act on.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


class NoReportFont(Exception):
    """No font with Korean and Vietnamese glyphs is installed."""


@dataclass(frozen=True)
class Fonts:
    """Per style ("" regular, "B" bold): the main face, and the one for what it lacks (Hangul)."""

    faces: dict[str, tuple[Path, Path | None]]

    @classmethod
    def find(cls, configured: str | None = None) -> Fonts:
        """``DSR_REPORT_FONT`` (one TrueType file with every glyph, for both weights), or Debian's."""
        if configured:
            path = Path(configured)
            if not path.is_file():
                raise NoReportFont(f"DSR_REPORT_FONT names no file: {configured}")
            return cls({"": (path, None), "B": (path, None)})
        missing = [str(f) for pair in FACES.values() for f in pair if not f.is_file()]
        if missing:
            raise NoReportFont(f"The report's fonts are missing ({', '.join(missing)}): install fonts-dejavu-core and "
                               f"fonts-nanum, or set DSR_REPORT_FONT.")
        return cls({style: (main, fallback) for style, (main, fallback) in FACES.items()})


class _Report(FPDF):
    def __init__(self, fonts: Fonts, footer: str) -> None:
        super().__init__(format="A4")
        self._footer = footer
        for style, (main, fallback) in fonts.faces.items():
            self.add_font("report", style=style, fname=str(main))
            if fallback is not None:
                self.add_font("report-ko", style=style, fname=str(fallback))
        if any(fallback is not None for _, fallback in fonts.faces.values()):
            self.set_fallback_fonts(["report-ko"], exact_match=False)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("report", size=8)
        self.cell(0, 6, f"{self._footer} · {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str, size: int = 13) -> None:
        self.ln(3)
        self.set_font("report", "B", size)
        self.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font("report", size=10)

    def para(self, text: str, indent: float = 0) -> None:
        self.set_x(self.l_margin + indent)
        self.multi_cell(self.epw - indent, 5.5, text, new_x="LMARGIN", new_y="NEXT")

    def items(self, lines: Iterable[str], none: str, indent: float = 0) -> None:
        shown = False
        for text in lines:
            self.para(f"• {text}", indent)
            shown = True
        if not shown:
            self.para(none, indent)


def render(result: dict[str, Any], *, language: str, clinic: str, zone: ZoneInfo, now: datetime,
           fonts: Fonts, words: report_view.SystemWords | None = None) -> bytes:
    """The report of ``result`` (as :meth:`services.dsr.results.Results.result` gives it), in
    ``language`` whatever the language the result was made in; ``words``: the clinic systems'."""
    words = words or report_view.SystemWords()
    lang = language if language in LANGUAGES else "ko"

    def tr(key: str, **values: Any) -> str:
        return t(lang, key, **values)

    pdf = _Report(fonts, f"{clinic} · {result['reference']}")
    pdf.set_title(f"{clinic} — {result['reference']}")
    pdf.set_lang(lang)
    pdf.add_page()
    pdf.set_font("report", "B", 16)
    pdf.multi_cell(0, 9, clinic, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("report", size=12)
    pdf.multi_cell(0, 7, tr("pdf.title"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("report", size=10)
    pdf.ln(2)
    pdf.para(f"{tr('reference')}: {result['reference']}")
    pdf.para(f"{tr('pdf.type')}: {tr('type.' + result['type'])}")
    pdf.para(f"{tr('pdf.status')}: {tr('status.' + result['status'])}")
    if result.get("closed_at"):
        pdf.para(f"{tr('pdf.closed')}: {format_moment(lang, _local(result['closed_at'], zone))}")
    pdf.para(f"{tr('pdf.made')}: {format_moment(lang, now.astimezone(zone))}")

    if result.get("ground"):
        pdf.heading(tr("result.legal_ground"))
        ground = GROUNDS.get(str(result["ground"].get("id")))
        pdf.para(ground.line(lang) if ground else str(result["ground"].get("text", "")))
        if result.get("legal_ground"):
            pdf.para(str(result["legal_ground"]))
    if result.get("answer"):
        pdf.heading(tr("result.answer"))
        pdf.para(str(result["answer"]))

    seen = report_view.read(result, lang, words)
    if result["type"] == "access":
        pdf.heading(tr("pdf.found"))
        if not seen.found:
            pdf.para(tr("result.none"))
        for system in seen.found:
            pdf.set_font("report", "B", 11)
            pdf.para(system.name)
            pdf.set_font("report", size=10)
            for category in system.categories:
                pdf.para(category.name, indent=4)
                pdf.items((", ".join(f"{label}: {value}" if label else value for label, value in record)
                           for record in category.records), tr("result.none"), indent=8)
        if seen.holds_nothing:
            pdf.heading(tr("pdf.holds_nothing"), size=11)
            pdf.items(seen.holds_nothing, tr("result.none"))
        pdf.heading(tr("result.retention"))
        pdf.items(seen.retention, tr("result.none"))
        pdf.heading(tr("result.recipients"))
        pdf.items(seen.recipients, tr("result.none"))
        if seen.provided_by_law:
            pdf.heading(tr("pdf.provided_by_law"), size=11)
            pdf.items(seen.provided_by_law, tr("result.none"))
    elif seen.outcomes:
        pdf.heading(tr("result.systems"))
        pdf.items(seen.outcomes, tr("result.none"))
    if seen.kept_by_law:
        pdf.heading(tr("result.kept"))
        pdf.items(seen.kept_by_law, tr("result.none"))

    if result.get("how_to_object"):
        pdf.heading(tr("result.how_to_object"))
        pdf.para(grounds.how_to_object("refusal" if result["status"] == "rejected" else "extension", lang))
    elif result["status"] in ("completed", "partially_completed"):
        pdf.heading(tr("result.disagree_title"))
        pdf.para(tr("result.disagree", reference=result["reference"]))
    remedies = [REMEDIES[r["id"]] for r in result.get("remedies") or [] if r.get("id") in REMEDIES]
    if remedies:
        pdf.heading(tr("result.remedies"))
        pdf.items((" — ".join(p for p in (r.name(lang), r.phone, r.url) if p) for r in remedies), tr("result.none"))
    return bytes(pdf.output())


def _local(moment: Any, zone: ZoneInfo) -> datetime:
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    return value.astimezone(zone)


#: Reports drawn at once (each parses the font, a second or two of one core): more wait their turn.
_DRAWING = anyio.Semaphore(2)


async def draw(result: dict[str, Any], *, language: str, clinic: str, zone: ZoneInfo, now: datetime,
               font: str | None, words: report_view.SystemWords | None = None) -> bytes:
    """:func:`render` in a worker thread, two at a time, so the event loop goes on serving."""
    fonts = Fonts.find(font)
    async with _DRAWING:
        return await anyio.to_thread.run_sync(
            lambda: render(result, language=language, clinic=clinic, zone=zone, now=now, fonts=fonts, words=words))
