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
    """A report page writer: every line in runs of one face each, the main face (Latin and
    Vietnamese) or, for what it lacks (Hangul, 「」), the Korean one.

    The runs are chosen here rather than by fpdf2's fallback fonts: fpdf2 2.8.9 draws the wrong
    glyph for a character the main face first meets after a line written wholly in the fallback
    (a bullet after a Korean category name came out as an "R", and its text could not be read back).
    """

    def __init__(self, fonts: Fonts, footer: str) -> None:
        super().__init__(format="A4")
        self._footer = footer
        self._korean = any(fallback is not None for _, fallback in fonts.faces.values())
        for style, (main, fallback) in fonts.faces.items():
            self.add_font("report", style=style, fname=str(main))
            if fallback is not None:
                self.add_font("report-ko", style=style, fname=str(fallback))
        self.style_now = ""
        self.size_now = 10.0
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def face(self, style: str = "", size: float = 10) -> None:
        """The style and size the next lines are written in."""
        self.style_now, self.size_now = style, size
        self.set_font("report", style, size)

    def runs(self, text: str) -> list[tuple[str, str]]:
        """``text`` cut where the face changes: (family, run)."""
        if not self._korean:
            return [("report", text)]
        main = getattr(self.fonts["report" + self.style_now], "cmap", {})
        out: list[tuple[str, str]] = []
        for char in text:
            # A space stays in the run it follows (both faces have one): a run wraps at its spaces.
            family = out[-1][0] if char.isspace() and out else "report" if ord(char) in main else "report-ko"
            if out and out[-1][0] == family:
                out[-1] = (family, out[-1][1] + char)
            else:
                out.append((family, char))
        return out

    def text_line(self, height: float, text: str, indent: float = 0) -> None:
        """``text`` as a paragraph, wrapped at the right margin, every line ``indent`` in."""
        margin = self.l_margin
        self.set_left_margin(margin + indent)
        self.set_x(margin + indent)
        for family, run in self.runs(text):
            self.set_font(family, self.style_now, self.size_now)
            self.write(height, run)
        self.set_font("report", self.style_now, self.size_now)
        self.ln(height)
        self.set_left_margin(margin)
        self.set_x(margin)

    def footer(self) -> None:
        self.set_y(-12)
        self.face(size=8)
        text = f"{self._footer} · {self.page_no()}/{{nb}}"
        runs = self.runs(text)
        width = 0.0
        for family, run in runs:
            self.set_font(family, "", 8)
            width += self.get_string_width(run.replace("{nb}", "99"))
        self.set_x(self.l_margin + max(0.0, (self.epw - width) / 2))
        for family, run in runs:
            self.set_font(family, "", 8)
            self.write(6, run)

    def heading(self, text: str, size: int = 13) -> None:
        self.ln(3)
        self.face("B", size)
        self.text_line(7, text)
        self.face(size=10)

    def para(self, text: str, indent: float = 0) -> None:
        self.text_line(5.5, text, indent)

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
    pdf.face("B", 16)
    pdf.text_line(9, clinic)
    pdf.face(size=12)
    pdf.text_line(7, tr("pdf.title"))
    pdf.face(size=10)
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
            pdf.face("B", 11)
            pdf.para(system.name)
            pdf.face(size=10)
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
