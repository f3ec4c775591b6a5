"""Keeping the catalogue: extract the keys the code uses, bring every language in line with the
English template, and say what is missing (``python -m shared.i18n [check|update|extract]``).

- ``extract`` writes ``shared/i18n/dongui.pot``: every literal key given to a translating function
  in the Python code and the Jinja2 templates (Babel's extractors), with where it is used.
- ``update`` takes ``en.po`` as the template: a key it gains is added to ``ko.po`` and ``vi.po``
  with an empty translation (for the translator), a key it loses is dropped, and each entry's
  translator comment shows the English words. Headers are kept stable so a re-run changes nothing.
- ``check`` fails (exit 1) on an empty translation, a placeholder one language has and another
  lacks, a plural entry without every form, or a key the code uses that the template lacks.

The check is also a test (tests/unit/test_catalogue.py), so a catalogue that falls behind fails the
build, not a parent's page.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po, write_po
from jinja2.ext import babel_extract

from shared.i18n import DOMAIN, FALLBACK, LANGUAGES, LOCALE_DIR, LOCALES, po_path

ROOT = LOCALE_DIR.parent.parent.parent
TEMPLATE = LOCALE_DIR.parent / f"{DOMAIN}.pot"
#: Where the code gives keys to the catalogue, and the functions it gives them to.
SOURCES = ("services/dsr/portal", "services/dsr/dashboard", "services/dsr/breaches", "services/dsr/report_pdf.py",
           "services/notifier")
#: The translating functions: ``t(lang, key)``, ``frame.t(key)``, ``translate(lang, key)``…
KEYWORDS = ("t", "tr", "translate", "b", "gettext", "ngettext")
#: The catalogue's own code, which hands keys on rather than using them.
SKIP = ("shared/i18n/", "services/dsr/portal/messages.py", "services/dsr/dashboard/i18n.py",
        "services/dsr/breaches/messages.py")
#: Which namespace ``t``, ``tr`` and ``translate`` read, by folder (the portal's ``t`` reads
#: ``portal.*``); ``b`` reads the breach register's words anywhere, ``gettext`` whole keys.
NAMESPACES = {"services/dsr/portal": "portal.", "services/dsr/dashboard": "dashboard.",
              "services/dsr/breaches": "breach.", "services/dsr/report_pdf.py": "portal."}
HEADER = {"Project-Id-Version": "Dongui", "Report-Msgid-Bugs-To": "the clinic's privacy manager",
          "Last-Translator": "Dongui", "Language-Team": "Dongui"}
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)|\{(\w+)\}")
#: Placeholders that are one value in another grammatical form (English's "an erasure request").
SAME = {"a_type": "type"}


def load(lang: str) -> Catalog:
    with po_path(lang).open("rb") as po:
        return read_po(po, locale=LOCALES[lang], domain=DOMAIN)


def save(lang: str, catalog: Catalog) -> None:
    catalog.project = HEADER["Project-Id-Version"]
    catalog.version = "1"
    catalog.msgid_bugs_address = HEADER["Report-Msgid-Bugs-To"]
    catalog.last_translator = HEADER["Last-Translator"]
    catalog.language_team = HEADER["Language-Team"]
    catalog.copyright_holder = "Dongui"
    catalog.fuzzy = False
    with po_path(lang).open("wb") as po:
        write_po(po, catalog, width=100, omit_header=False, sort_output=False, no_location=True,
                 include_previous=False)
    # The dates Babel stamps in the header would make every run a change: keep them out.
    text = po_path(lang).read_text(encoding="utf-8")
    text = re.sub(r'"(POT-Creation-Date|PO-Revision-Date): [^"]*\\n"\n', "", text)
    text = re.sub(r"^# FIRST AUTHOR.*\n", "", text, flags=re.M)
    po_path(lang).write_text(text, encoding="utf-8")


def _key(message: Message) -> str:
    return message.id if isinstance(message.id, str) else str(message.id[0])


def _english(message: Message) -> str:
    string: Any = message.string
    return string if isinstance(string, str) else " | ".join(str(s) for s in string or ())


def update() -> None:
    """Every language in line with the English template (see the module's docstring)."""
    template = load(FALLBACK)
    save(FALLBACK, template)
    for lang in LANGUAGES:
        if lang == FALLBACK:
            continue
        old = load(lang)
        new = Catalog(locale=LOCALES[lang], domain=DOMAIN)
        for entry in template:
            if not entry.id:
                continue
            found = old.get(entry.id, context=entry.context)
            nplurals = new.num_plurals
            if isinstance(entry.id, tuple):
                forms = list(found.string) if found is not None and isinstance(found.string, tuple) else []
                string: str | tuple[str, ...] = tuple((forms + [""] * nplurals)[:nplurals])
            else:
                string = found.string if found is not None and isinstance(found.string, str) else ""
            new.add(entry.id, string, context=entry.context, auto_comments=["en: " + _english(entry)])
        save(lang, new)


def used_keys(root: Path = ROOT) -> Iterator[tuple[str, str, int]]:
    """Every literal key the code gives a translating function: (key, file, line).

    Babel's extractors find the calls (Python, and Jinja2 for the templates); the key is the call's
    first string literal, whether the language comes first (``t(lang, "status")``) or is bound
    (``frame.t("status", n=2)``). A key built at run time (``"type." + code``) is not seen here: the
    code tables it reads from are checked by the page tests instead.
    """
    for source in SOURCES:
        top = root / source
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            relative = path.relative_to(root).as_posix()
            extractor: Any
            if path.suffix == ".py" and not relative.startswith(SKIP):
                extractor = extract_python
            elif path.suffix == ".html" and "/templates/" in relative:
                extractor = babel_extract
            else:
                continue
            prefix = next((p for folder, p in NAMESPACES.items() if relative.startswith(folder)), "")
            with path.open("rb") as fileobj, contextlib.redirect_stderr(io.StringIO()):
                # (Babel warns of each f-string given to a function of the same name: not a key.)
                for lineno, function, messages, _comments in extractor(fileobj, KEYWORDS, [], {}):
                    found: tuple[Any, ...] = messages if isinstance(messages, tuple) else (messages,)
                    key: str | None = next((m for m in found if isinstance(m, str)), None)
                    if not key or key.endswith("."):  # none, or the start of a key built at run time
                        continue
                    namespace = {"b": "breach.", "gettext": "", "ngettext": ""}.get(str(function), prefix)
                    yield namespace + key, relative, lineno


def extract() -> None:
    pot = Catalog(domain=DOMAIN, project=HEADER["Project-Id-Version"])
    for key, filename, lineno in used_keys():
        pot.add(key, locations=[(filename, lineno)])
    with TEMPLATE.open("wb") as out:
        write_po(out, pot, width=100, omit_header=True, sort_output=True)


def _placeholders(text: str) -> set[str]:
    return {SAME.get(name, name) for pair in PLACEHOLDER.findall(text) for name in pair if name}


def problems() -> list[str]:
    """What is wrong with the catalogue, one line each (empty when it is whole)."""
    found: list[str] = []
    catalogs = {lang: load(lang) for lang in LANGUAGES}
    template = catalogs[FALLBACK]
    for lang, catalog in catalogs.items():
        for entry in template:
            if not entry.id:
                continue
            mine = catalog.get(entry.id, context=entry.context)
            where = f"{lang}: {_key(entry)}" + (f" ({entry.context})" if entry.context else "")
            if mine is None:
                found.append(f"{where}: missing")
                continue
            forms = mine.string if isinstance(mine.string, tuple) else (mine.string,)
            if isinstance(entry.id, tuple) and len(forms) != catalog.num_plurals:
                found.append(f"{where}: {len(forms)} plural forms, {catalog.num_plurals} wanted")
            if any(not form for form in forms):
                found.append(f"{where}: not translated")
            english = _placeholders(_english(entry))
            for form in forms:
                theirs = _placeholders(str(form))
                # A plural form may leave the number out ("one month"), never add a name.
                fits = theirs <= english if isinstance(entry.id, tuple) else theirs == english
                if form and not fits:
                    found.append(f"{where}: placeholders {sorted(theirs)}, English has {sorted(english)}")
        for entry in catalog:
            if entry.id and template.get(entry.id, context=entry.context) is None:
                found.append(f"{lang}: {_key(entry)}: not in the English template")
    known = {_key(m) for m in template if m.id}
    for key, filename, lineno in used_keys():
        if key not in known:
            found.append(f"{filename}:{lineno}: {key}: used but not in the catalogue")
    return found


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        update()
    elif command == "extract":
        extract()
        print(f"wrote {TEMPLATE.relative_to(ROOT)}")
    elif command != "check":
        print(__doc__)
        return 2
    wrong = problems()
    for line in wrong:
        print(line)
    print(f"{len(wrong)} problems" if wrong else "the catalogue is whole")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
