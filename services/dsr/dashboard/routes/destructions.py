"""The destruction log and the retention outlook, for the privacy manager (PIPA Art. 21, Decree
Art. 16; the clinic's inspector asks for both): what went, from which system, by which rule, with
each system's confirmation, overdue first; the retention periods ending in the next 30 days; the
log as CSV."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.dsr.dashboard.frame import Page
from services.dsr.destruction import log, store
from services.dsr.web.deps import Pool, Service
from shared import i18n

router = APIRouter(include_in_schema=False)  # pages, not API operations

#: How far ahead the outlook looks, and how many rows a page shows.
OUTLOOK = timedelta(days=30)
ROWS = 500


@router.get("/destructions", response_class=HTMLResponse)
async def destructions_page(frame: Page, service: Service, pool: Pool) -> Response:
    if not frame.manager:
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("destructions.manager"))
    now = service.clock()
    today = now.astimezone(service.zone).date()
    async with pool.acquire() as conn:
        rows = log.rows(await store.log(conn, subject_id=None, since=None, limit=ROWS), now)
        ending = await store.expiring(conn, today + OUTLOOK, ROWS)
    # What needs the manager first: overdue and failed, then waiting, then the rest (newest first).
    order = {"overdue": 0, "failed": 1, "waiting": 2}
    rows.sort(key=lambda r: order.get(r.status, 3))
    lang = frame.lang

    def category_name(code: str) -> str:
        return i18n.word(lang, "category", code)

    def what(row: log.DestructionRow) -> str:
        """What goes, in words: the categories, then the retention classes."""
        return ", ".join([category_name(c) for c in row.categories] + [i18n.word(lang, "retention", rc) for rc in row.classes])

    return await frame.render("destructions.html", rows=rows, ending=ending, today=today, what=what,
                              purpose_name=lambda p: i18n.word(lang, "purpose", p),
                              retention_name=lambda rc: i18n.word(lang, "retention", rc), category_name=category_name)


@router.get("/destructions.csv")
async def destructions_csv(frame: Page, service: Service, pool: Pool) -> Response:
    if not frame.manager:
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("destructions.manager"))
    now = service.clock()
    async with pool.acquire() as conn:
        rows = log.rows(await store.log(conn, subject_id=None, since=None, limit=100_000), now)
    return log.csv_response(rows, now)
