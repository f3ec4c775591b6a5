"""Lint the three services' OpenAPI documents with Redocly CLI: ``python -m deploy.openapi_lint``
(``make openapi-lint``).

Each app's document is built as ``/openapi.json`` serves it (``build_app().openapi()``: no
database, no broker), written to a temporary directory and linted with the rules of
``redocly.yaml`` (Redocly's ``recommended`` set). Any problem fails, a warning as much as an error.

Redocly CLI is a Node program: it is installed with npm, at the pinned :data:`REDOCLY_VERSION`,
into ``.tools/`` (git-ignored) the first time, which needs the npm registry; afterwards the check
runs offline. Its telemetry and update notices are turned off. Needs Node.js 20.19+ and npm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
REDOCLY_VERSION = "2.77.0"
CLI = TOOLS / "node_modules" / ".bin" / "redocly"
CONFIG = ROOT / "redocly.yaml"
#: No usage data sent, no update check: the lint must not need the network.
QUIET = {
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_NOTIFICATIONS": "true",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
}


def installed_version() -> str | None:
    package = TOOLS / "node_modules" / "@redocly" / "cli" / "package.json"
    if not CLI.exists() or not package.exists():
        return None
    version: str = json.loads(package.read_text(encoding="utf-8"))["version"]
    return version


def install() -> None:
    """Redocly CLI at the pinned version into ``.tools/``, unless it is there already."""
    if installed_version() == REDOCLY_VERSION:
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("error: npm is missing; install Node.js 20.19+ (with npm) to lint the OpenAPI documents")
    print(f"Installing @redocly/cli@{REDOCLY_VERSION} into {TOOLS.relative_to(ROOT)}/ (npm registry)…",
          file=sys.stderr)
    TOOLS.mkdir(exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(TOOLS), "--save-exact", "--no-audit", "--no-fund",
         "--loglevel=error", f"@redocly/cli@{REDOCLY_VERSION}"],
        check=True, env={**os.environ, **QUIET},
    )
    if installed_version() != REDOCLY_VERSION:
        sys.exit(f"error: npm did not install @redocly/cli@{REDOCLY_VERSION} into {TOOLS}")


def documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, by service name."""
    from services.consent.app import build_app as consent
    from services.dsr.app import build_app as dsr
    from services.notifier.app import build_app as notifier

    builders: dict[str, Callable[[], Any]] = {"consent": consent, "dsr": dsr, "notifier": notifier}
    return {name: build().openapi() for name, build in builders.items()}


def lint(path: Path) -> dict[str, Any]:
    """Redocly's report (its JSON format) on the document at ``path``."""
    result = subprocess.run(
        [str(CLI), "lint", "--config", str(CONFIG), "--format=json", path.name],
        capture_output=True, text=True, env={**os.environ, **QUIET}, cwd=path.parent,
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(result.stderr)
        sys.exit(f"error: redocly lint gave no report on {path.name} (exit status {result.returncode})")
    return report


def main() -> int:
    install()
    failed = False
    with tempfile.TemporaryDirectory(prefix="openapi-lint-") as tmp:
        for name, document in documents().items():
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            report = lint(path)
            for problem in report["problems"]:
                where = problem["location"][0]
                print(f"  {name} {where.get('pointer', '')}: {problem['severity']} {problem['ruleId']}: "
                      f"{problem['message']}")
            totals = report["totals"]
            print(f"{name}: {totals['errors']} errors, {totals['warnings']} warnings "
                  f"(redocly {report.get('version', '?')}, {CONFIG.name})")
            failed = failed or bool(report["problems"] or totals["errors"] or totals["warnings"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
