"""docs/compliance.md cannot go stale silently: every rule has a row, and what a row cites exists.

An inspector reads the table to find the test that proves a rule and the code that keeps it; a
renamed test or a moved function would leave them a dead reference. Only the files are parsed
(with ``ast``): nothing is imported or run, so this stays a unit test of milliseconds.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "compliance.md"
RULES = range(1, 29)
STATUSES = ("kept", "partly", "not yet")
# The table's columns, in order: | # | Rule (source) | Status | Tests | Code | Notes |
COLUMNS = 6
CITATION = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Row:
    rule: int
    status: str
    tests: tuple[str, ...]
    code: tuple[str, ...]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def rows() -> dict[int, Row]:
    found: dict[int, Row] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not re.match(r"^\|\s*\d+\s*\|", line):
            continue
        cells = _cells(line)
        assert len(cells) == COLUMNS, f"a row of docs/compliance.md has {len(cells)} cells, not {COLUMNS}: {line[:80]}"
        rule = int(cells[0])
        assert rule not in found, f"rule {rule} has two rows"
        found[rule] = Row(rule, cells[2], tuple(CITATION.findall(cells[3])), tuple(CITATION.findall(cells[4])))
    return found


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _top_level(tree: ast.Module) -> dict[str, ast.AST]:
    return {node.name: node for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def _cited(kind: str) -> list[tuple[int, str]]:
    return [(row.rule, cited) for row in rows().values() for cited in getattr(row, kind)]


def _split(cited: str) -> tuple[Path, str]:
    path, sep, symbol = cited.partition("::")
    assert sep and path and symbol, f"'{cited}' is not 'path::symbol'"
    return ROOT / path, symbol


def test_every_rule_has_one_row_with_a_known_status():
    assert sorted(rows()) == list(RULES)
    unknown = {row.rule: row.status for row in rows().values() if row.status not in STATUSES}
    assert not unknown, f"statuses must be one of {STATUSES}: {unknown}"


def test_a_kept_rule_cites_a_test_and_the_code():
    thin = [row.rule for row in rows().values() if row.status == "kept" and not (row.tests and row.code)]
    assert not thin, f"rules marked kept without a test or a code symbol: {thin}"


def test_the_summary_counts_the_rows():
    text = TABLE.read_text(encoding="utf-8")
    counts = {status: sum(row.status == status for row in rows().values()) for status in STATUSES}
    expected = f"{counts['kept']} kept, {counts['partly']} partly, {counts['not yet']} not yet"
    assert expected in text, f"the summary should say '{expected}'"


@pytest.mark.parametrize(("rule", "node_id"), _cited("tests"))
def test_each_cited_test_exists(rule: int, node_id: str):
    path, name = _split(node_id)
    assert path.parts[len(ROOT.parts)] == "tests", f"rule {rule}: {node_id} is not under tests/"
    assert path.is_file(), f"rule {rule}: no file {path.relative_to(ROOT)}"
    name = name.split("[", 1)[0]  # a parametrised test may be cited with or without its brackets
    test = _top_level(_tree(path)).get(name)
    assert isinstance(test, ast.FunctionDef | ast.AsyncFunctionDef) and name.startswith("test_"), (
        f"rule {rule}: no test function {name} in {path.relative_to(ROOT)}")


@pytest.mark.parametrize(("rule", "symbol"), _cited("code"))
def test_each_cited_symbol_exists(rule: int, symbol: str):
    path, name = _split(symbol)
    assert path.is_file() and path.suffix == ".py", f"rule {rule}: no Python file {path.relative_to(ROOT)}"
    outer, _, member = name.partition(".")
    node = _top_level(_tree(path)).get(outer)
    assert node is not None, f"rule {rule}: no top-level def or class {outer} in {path.relative_to(ROOT)}"
    if member:
        assert isinstance(node, ast.ClassDef), f"rule {rule}: {outer} is not a class, so {name} cannot be"
        assert member in _top_level(ast.Module(body=node.body, type_ignores=[])), (
            f"rule {rule}: class {outer} has no method {member}")
