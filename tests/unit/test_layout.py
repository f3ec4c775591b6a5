"""The house rules of the services' code, checked on the source (issue 17): SQL only in a
``store.py``, no module that mixes too much, no request rule reading a database row by key."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
#: A string that is SQL.
SQL = re.compile(r"""["'](?:SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|WITH\s+\w+\s+AS\s*\()""")
#: Text catalogues: their length is the three languages' words, not mixed concerns.
TEXT_CATALOGUES = {SERVICES / "dsr" / "portal" / "messages.py"}
MAX_LINES = 400


def _modules() -> list[Path]:
    return [p for p in SERVICES.rglob("*.py") if "migrations" not in p.parts]


def test_sql_lives_only_in_store_modules():
    leaks = [f"{p.relative_to(ROOT)}:{n}" for p in _modules() if p.name != "store.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if SQL.search(line)]
    assert not leaks, f"SQL outside store.py: {leaks}"


def test_no_service_module_is_over_four_hundred_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules() if p not in TEXT_CATALOGUES
            and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_request_services_rules_read_a_typed_request():
    dsr = [p for p in (SERVICES / "dsr").glob("*.py") if p.name != "store.py"]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in dsr
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
             if re.search(r"\breq\[\s*[\"']", line)]
    assert not found, f"a request read as a row: {found}"
