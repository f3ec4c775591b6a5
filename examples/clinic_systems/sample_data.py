"""The three example systems: what each holds (seeded from ``sample_data.yaml``) and what each task
does to it. This is the part a clinic team replaces with queries against its own database.

Each record carries the date its legal retention period counts from, so an erasure can tell a
record the law still makes the clinic keep from one it may (and therefore must) delete.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from shared.events import (
    Correction,
    DestroyTask,
    EraseTask,
    ExportItem,
    ExportTask,
    LegalPurpose,
    LiftTask,
    RectifyTask,
    RestrictTask,
    RetainedItem,
    TaskData,
    TaskResult,
)
from shared.rules.retention import RETENTION_CLASSES

#: Korea has no daylight-saving time, so a fixed offset is exact and needs no tz database.
KST = timezone(timedelta(hours=9), "KST")
SAMPLE_DATA = Path(__file__).with_name("sample_data.yaml")

Clock = Callable[[], datetime]


def seoul_now() -> datetime:
    return datetime.now(KST)


@dataclass(frozen=True)
class Category:
    """A data category a system holds: why, how long (retention class) and who else receives it."""

    retention_class: str
    purposes: tuple[str, ...]
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class SystemSpec:
    """What a system tells the request service about itself when it registers."""

    system_id: str
    name: str
    description: str
    processor: bool
    categories: dict[str, Category]
    #: Purposes it checks permissions for beyond those of its own data (the website asks for and
    #: shows the marketing consents the agency acts on).
    checks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = {c.retention_class for c in self.categories.values()} - RETENTION_CLASSES.keys()
        if unknown:
            raise ValueError(f"{self.system_id}: unknown retention classes {sorted(unknown)}")

    def registration(self) -> dict[str, Any]:
        """The body of ``POST /v1/systems``."""
        classes: list[str] = []
        for category in self.categories.values():
            if category.retention_class not in classes:
                classes.append(category.retention_class)
        return {
            "system_id": self.system_id,
            "name": self.name,
            "description": self.description,
            "data_categories": list(self.categories),
            "retention_classes": classes,
            "processor": self.processor,
            # Who it is on the topics (its answers' and consent events' CloudEvents source), and
            # the purposes it checks permissions for: what its data is used for.
            "source": self.source,
            "purposes": sorted({p for category in self.categories.values() for p in category.purposes}
                               | set(self.checks)),
            # What it writes itself, in the words of the languages the clinic's people read.
            "translations": {text: WORDS[text] for text in self.written() if text in WORDS},
        }

    def written(self) -> list[str]:
        """What the system writes itself: its name, its description, the recipients it names."""
        recipients = {r for category in self.categories.values() for r in category.recipients}
        return [self.name, self.description, *sorted(recipients)]

    @property
    def source(self) -> str:
        return f"clinic/{self.system_id}"


#: The Korean and Vietnamese of what the example systems write (their registration carries them).
WORDS: dict[str, dict[str, str]] = {
    "Electronic medical records": {"ko": "전자의무기록(EMR)", "vi": "Hồ sơ bệnh án điện tử"},
    "Patient roster, treatment records, prescriptions and radiology.": {
        "ko": "환자 명부, 진료기록, 처방전, 방사선 영상.",
        "vi": "Danh sách bệnh nhân, hồ sơ khám chữa bệnh, đơn thuốc và phim X-quang."},
    "Website membership": {"ko": "홈페이지 회원", "vi": "Thành viên trang web"},
    "Member accounts of the clinic's website (reservations, consultations).": {
        "ko": "병원 홈페이지 회원 계정(예약, 상담).",
        "vi": "Tài khoản thành viên trang web của phòng khám (đặt lịch, tư vấn)."},
    "Marketing list": {"ko": "광고 수신 명단", "vi": "Danh sách nhận tin quảng cáo"},
    "E-mail and text-message marketing, run for the clinic by an outside agency.": {
        "ko": "외부 대행사가 병원을 대신해 보내는 이메일·문자 광고.",
        "vi": "Quảng cáo qua email và tin nhắn, do một công ty bên ngoài thực hiện thay phòng khám."},
    "Health Insurance Review & Assessment Service (insurance claims)": {
        "ko": "건강보험심사평가원(요양급여비용 청구)",
        "vi": "Cơ quan Thẩm định và Đánh giá Bảo hiểm Y tế (yêu cầu thanh toán bảo hiểm)"},
    "Dispensing pharmacy": {"ko": "조제 약국", "vi": "Nhà thuốc cấp phát thuốc"},
    "Marketing agency (processor)": {"ko": "광고 대행사(수탁자)", "vi": "Công ty quảng cáo (bên được ủy thác xử lý)"},
}

_TREATMENT = ("treatment",)
_CLAIMS = "Health Insurance Review & Assessment Service (insurance claims)"
_AGENCY = ("Marketing agency (processor)",)

SYSTEMS: dict[str, SystemSpec] = {
    spec.system_id: spec
    for spec in (
        SystemSpec(
            system_id="emr",
            name="Electronic medical records",
            description="Patient roster, treatment records, prescriptions and radiology.",
            processor=False,
            categories={
                # The roster is kept 5 years from the last visit (Enforcement Rule 15).
                "name": Category("patient_roster", _TREATMENT),
                "contact": Category("patient_roster", _TREATMENT),
                "treatment_records": Category("medical_record", _TREATMENT, (_CLAIMS,)),
                "prescriptions": Category(
                    "prescription", _TREATMENT, ("Dispensing pharmacy", _CLAIMS)
                ),
                "radiology": Category("radiology", _TREATMENT),
            },
        ),
        SystemSpec(
            system_id="website",
            name="Website membership",
            description="Member accounts of the clinic's website (reservations, consultations).",
            processor=False,
            categories={
                "name": Category("membership", ("membership",)),
                "login_id": Category("membership", ("membership",)),
                "contact": Category("membership", ("membership",)),
                # Kept 3 months by law (Protection of Communications Secrets Act), then deleted.
                "access_logs": Category("access_log", ("membership",)),
            },
            checks=("marketing_email", "marketing_sms", "marketing_night", "cookies_analytics"),
        ),
        SystemSpec(
            system_id="crm",
            name="Marketing list",
            description=(
                "E-mail and text-message marketing, run for the clinic by an outside agency."
            ),
            processor=True,
            categories={
                "email": Category("marketing", ("marketing_email",), _AGENCY),
                "mobile_phone": Category("marketing", ("marketing_sms",), _AGENCY),
                "marketing_preferences": Category(
                    "marketing", ("marketing_email", "marketing_sms"), _AGENCY
                ),
            },
        ),
    )
}


@dataclass
class Record:
    category: str
    recorded_on: date
    data: dict[str, Any]
    amendments: list[dict[str, Any]] = field(default_factory=list)
    #: Kept only because this law requires it (a restrict-to-legal-purpose instruction): kept apart,
    #: for that purpose only (PIPA Art. 21(3)). None: in ordinary use.
    legal_hold: str | None = None

    def current(self, name: str) -> Any:
        """A field's value as amended: the original stays in ``data``."""
        for amendment in reversed(self.amendments):
            if amendment["field"] == name:
                return amendment["corrected"]
        return self.data.get(name)

    def exported(self) -> dict[str, Any]:
        # A copy: an answer is stored for re-sent tasks and must not change with the store.
        item = copy.deepcopy(self.data)
        if self.amendments:
            item["amendments"] = copy.deepcopy(self.amendments)
        if self.legal_hold:
            item["kept_only_by_law"] = self.legal_hold
        return item


def retention_end(retention_class: str, recorded_on: date) -> date | None:
    """The day the legal period ends; None when it ends with an event (e.g. consent withdrawal)."""
    return RETENTION_CLASSES[retention_class].ends_on(recorded_on)


class SampleSystem:
    """One system's in-memory store and what each task does to it.

    ``handle`` must be deterministic for one state of the store: the transport layer
    (``system.py``) stores the first answer to a task and re-sends it when the task is re-sent, so
    nothing here needs to know about attempts.
    """

    def __init__(
        self, spec: SystemSpec, subjects: dict[str, list[Record]], clock: Clock = seoul_now
    ) -> None:
        self.spec = spec
        self.system_id = spec.system_id
        self._subjects = subjects
        self._restricted: set[str] = set()
        self._clock = clock

    def registration(self) -> dict[str, Any]:
        return self.spec.registration()

    def held(self) -> dict[str, list[tuple[str, date]]]:
        """Per subject, each class with a legal period it holds and the day of its latest record."""
        out: dict[str, list[tuple[str, date]]] = {}
        for subject_id, records in self._subjects.items():
            latest: dict[str, date] = {}
            for record in records:
                cls = self.spec.categories[record.category].retention_class
                if RETENTION_CLASSES[cls].fixed:
                    latest[cls] = max(latest.get(cls, record.recorded_on), record.recorded_on)
            out[subject_id] = sorted(latest.items())
        return out

    def is_restricted(self, subject_id: str) -> bool:
        return subject_id in self._restricted

    def handle(self, task: TaskData) -> TaskResult:
        records = self._subjects.get(task.subject_id)
        if not records:
            return self._result(task, "no_data", note="No data about this subject.")
        if isinstance(task, ExportTask):
            return self._export(task, records)
        if isinstance(task, EraseTask):
            return self._erase(task, records)
        if isinstance(task, DestroyTask):
            return self._destroy(task, records)
        if isinstance(task, RectifyTask):
            return self._rectify(task, records)
        if isinstance(task, RestrictTask):
            self._restricted.add(task.subject_id)
            return self._result(task, "done", note="Processing restricted; the data is kept.")
        if isinstance(task, LiftTask):
            self._restricted.discard(task.subject_id)
            return self._result(task, "done", note="Processing may resume.")
        raise TypeError(f"unsupported task {type(task).__name__}")

    # --- tasks -------------------------------------------------------------------------------

    def _export(self, task: ExportTask, records: list[Record]) -> TaskResult:
        exported = []
        for name, category in self.spec.categories.items():
            held = [r.exported() for r in records if r.category == name]
            if held:
                exported.append(
                    ExportItem(
                        category=name,
                        items=held,
                        purposes=list(category.purposes),
                        retention_class=category.retention_class,
                        recipients=list(category.recipients),
                    )
                )
        note = None
        if self.is_restricted(task.subject_id):
            note = "Processing is restricted at the subject's request."
        return self._result(task, "done", exported=exported, note=note)

    def _erase(self, task: EraseTask, records: list[Record]) -> TaskResult:
        wanted = None if task.categories is None else set(task.categories)
        return self._remove(task, records, lambda r: wanted is None or r.category in wanted,
                            task.retain_classes, task.restrict_to_legal_purpose)

    def _destroy(self, task: DestroyTask, records: list[Record]) -> TaskResult:
        """What only a withdrawn consent (or an ended period) justified: the categories and
        classes asked, except what a law still keeps (answered as ``retained``)."""
        categories, classes = set(task.categories), set(task.classes)
        return self._remove(
            task, records,
            lambda r: r.category in categories
            or self.spec.categories[r.category].retention_class in classes,
            task.retain_classes, task.restrict_to_legal_purpose,
        )

    def _remove(self, task: TaskData, records: list[Record], wanted: Callable[[Record], bool],
                retain_classes: list[str], legal: list[LegalPurpose]) -> TaskResult:
        """Remove what ``wanted`` picks, except records of ``retain_classes`` within their period,
        which are kept apart for the law's purpose when ``legal`` says so (restrict-to-legal-purpose)."""
        holds = {p.retention_class: p.citation for p in legal}
        today = self._clock().astimezone(KST).date()
        keep: list[Record] = []
        erased: set[str] = set()
        retained: set[tuple[str, str, date | None]] = set()
        for record in records:
            if not wanted(record):
                keep.append(record)
                continue
            cls = self.spec.categories[record.category].retention_class
            if cls in retain_classes:
                # The period counts from the record's own date, not from the request.
                until = retention_end(cls, record.recorded_on)
                if until is None or until > today:
                    record.legal_hold = holds.get(cls, record.legal_hold)
                    keep.append(record)
                    retained.add((record.category, cls, until))
                    continue
            erased.add(record.category)
        if not erased and not retained:
            return self._result(task, "no_data", note="No data in the categories asked for.")

        if keep:
            self._subjects[task.subject_id] = keep
        else:
            del self._subjects[task.subject_id]
            self._restricted.discard(task.subject_id)

        order = list(self.spec.categories)
        kept = [
            RetainedItem(category=c, retention_class=k, until=u)
            for c, k, u in sorted(retained, key=lambda r: (order.index(r[0]), r[2] or date.max))
        ]
        note = ("Kept by law: " + "; ".join(map(_why_kept, kept))) if kept else None
        return self._result(
            task,
            "partially_done" if kept else "done",
            erased=[c for c in self.spec.categories if c in erased],
            retained=kept,
            note=note,
        )

    def _rectify(self, task: RectifyTask, records: list[Record]) -> TaskResult:
        at = self._clock().astimezone(KST).isoformat()
        corrected: list[str] = []
        amended: list[str] = []
        missing: list[str] = []
        for correction in task.corrections:
            targets = list(_targets(records, correction))
            if not targets:
                missing.append(correction.item)
                continue
            for record, name in targets:
                cls = self.spec.categories[record.category].retention_class
                label = f"{record.category}.{name}"
                if cls in task.amend_classes:
                    # Medical Service Act 22(2): never overwrite a medical record; add to it.
                    record.amendments.append({
                        "field": name,
                        "original": record.current(name),
                        "corrected": correction.corrected,
                        "amended_at": at,
                        "amended_by": f"Privacy office, data-subject request {task.reference}",
                        "request_id": task.request_id,
                        "task_id": task.task_id,
                    })
                    amended.append(label)
                else:
                    record.data[name] = correction.corrected
                    corrected.append(label)
        parts = []
        if corrected:
            parts.append("corrected: " + ", ".join(dict.fromkeys(corrected)))
        if amended:
            parts.append("amended, original kept: " + ", ".join(dict.fromkeys(amended)))
        if missing:
            parts.append(
                "not found (no such item, or its current value differs): " + ", ".join(missing)
            )
        # A correction fans out to every system: one that holds none of the items named has
        # nothing to correct (others hold them), which is not a failure.
        outcome = "done" if (corrected or amended) else "no_data"
        return self._result(task, outcome, note="; ".join(parts))

    def _result(self, task: TaskData, outcome: str, **fields: Any) -> TaskResult:
        if fields.get("note"):
            fields["note"] = fields["note"][:2000]  # the contract's limit
        return TaskResult(
            task_id=task.task_id,
            request_id=task.request_id,
            system_id=self.system_id,
            subject_id=task.subject_id,
            outcome=outcome,
            **fields,
        )


def _why_kept(item: RetainedItem) -> str:
    cls = RETENTION_CLASSES[item.retention_class]
    until = item.until.isoformat() if item.until else cls.until
    return f"{item.category} until {until} ({cls.citation})"


def _targets(records: Iterable[Record], correction: Correction) -> Iterable[tuple[Record, str]]:
    """The fields a correction names: ``item`` is ``field`` or ``category.field``; when
    ``current`` is given, only fields holding that value (it picks one visit out of several)."""
    category, _, name = correction.item.rpartition(".")
    for record in records:
        if category and record.category != category:
            continue
        if name not in record.data:
            continue
        if correction.current is not None and str(record.current(name)) != correction.current:
            continue
        yield record, name


def load_sample_systems(
    system_ids: Iterable[str] | None = None, *, path: Path = SAMPLE_DATA, clock: Clock = seoul_now
) -> dict[str, SampleSystem]:
    """Fresh stores seeded from ``path``, for ``system_ids`` (all of ``SYSTEMS`` when None)."""
    seed = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    systems = {}
    for system_id in system_ids if system_ids is not None else SYSTEMS:
        spec = SYSTEMS[system_id]
        subjects: dict[str, list[Record]] = {}
        for subject_id, rows in (seed.get(system_id) or {}).items():
            for row in rows:
                if row["category"] not in spec.categories:
                    raise ValueError(f"{path.name}: {system_id} has no category {row['category']!r}")
                record = Record(row["category"], _date(row["recorded_on"]), dict(row["data"]))
                subjects.setdefault(subject_id, []).append(record)
        systems[system_id] = SampleSystem(spec, subjects, clock)
    return systems


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
