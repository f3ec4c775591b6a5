"""Why a request may be refused or its deadline extended, per law, and where else a person can turn.

A refusal or an extension names one *ground* from the list of the request's governing law (the
clinic's, ``DONGUI_CLINIC_JURISDICTION``), with free text beside it; the law requires the ground to
be stated, and how to object (PIPA Enforcement Decree Arts. 41(4), 42(2), 43(3), 44(2); GDPR Art.
12(3)-(4)). A refusal also names the *remedies* outside the clinic of every law that applied to the
request (the seed policy's section 10 for Korea), with their contacts.

``grounds.yaml`` beside this module is the catalogue, with every text in ko/en/vi.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from shared import i18n
from shared.rules.deadlines import Law

GROUNDS_FILE = Path(__file__).with_name("grounds.yaml")
LANGUAGES = ("ko", "en", "vi")
LAWS = ("KR", "VN", "EU")

#: A text in each language: ko, en and vi, and no other.
Texts = dict[str, str]


def check_languages(texts: Texts, what: str) -> None:
    missing = [lang for lang in LANGUAGES if not (texts.get(lang) or "").strip()]
    if missing:
        raise ValueError(f"{what}: no text in {', '.join(missing)}")
    if set(texts) - set(LANGUAGES):
        raise ValueError(f"{what}: texts in {', '.join(sorted(set(texts) - set(LANGUAGES)))}, not ko, en or vi")


class Ground(BaseModel):
    """One legal ground: the law it belongs to, its citation, and its words in each language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    law: Law
    citation: str = Field(min_length=1)
    texts: Texts
    #: The request types a refusal ground may refuse (empty for an extension ground).
    types: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> Ground:
        check_languages(self.texts, f"ground {self.id}")
        return self

    def text(self, language: str) -> str:
        return self.texts.get(language) or self.texts["en"]

    def line(self, language: str) -> str:
        """The ground as a person reads it: its words, then its citation."""
        return f"{self.text(language)} ({i18n.citation(language, self.citation)})"


class Remedy(BaseModel):
    """A body outside the clinic a person may turn to, with how to reach it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    law: Law
    names: Texts
    phone: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Remedy:
        check_languages(self.names, f"remedy {self.id}")
        return self

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]

    def line(self, language: str) -> str:
        """The remedy as one line of a letter: its name, telephone and address."""
        return " · ".join(part for part in (self.name(language), self.phone, self.url) if part)

    def view(self, language: str) -> dict[str, str | None]:
        """The remedy in ``language``, as the requester's view and result carry it."""
        return {"id": self.id, "name": self.name(language), "phone": self.phone, "url": self.url}


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    refusals: tuple[Ground, ...]
    extensions: tuple[Ground, ...]
    remedies: tuple[Remedy, ...]
    how_to_object: dict[Literal["refusal", "extension"], Texts]

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        ids = [g.id for g in (*self.refusals, *self.extensions)] + [r.id for r in self.remedies]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"ids used twice: {', '.join(twice)}")
        for ground in self.refusals:
            if not ground.types:
                raise ValueError(f"refusal ground {ground.id}: which request types it may refuse (types)")
        for ground in self.extensions:
            if ground.types:
                raise ValueError(f"extension ground {ground.id}: an extension ground lists no types")
        for law in LAWS:
            if not any(g.law == law for g in self.extensions):
                raise ValueError(f"no extension ground for {law}")
        for kind, texts in self.how_to_object.items():
            check_languages(texts, f"how_to_object.{kind}")
        return self

    @classmethod
    def load(cls, path: Path = GROUNDS_FILE) -> Catalogue:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


#: The catalogue as shipped.
CATALOGUE = Catalogue.load()
#: Every ground, refusal or extension, by id.
GROUNDS: dict[str, Ground] = {g.id: g for g in (*CATALOGUE.refusals, *CATALOGUE.extensions)}
REFUSAL_GROUND_IDS: tuple[str, ...] = tuple(g.id for g in CATALOGUE.refusals)
EXTENSION_GROUND_IDS: tuple[str, ...] = tuple(g.id for g in CATALOGUE.extensions)


def one_of(ids: Sequence[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in ids:
            raise ValueError(f"not {what}: one of {', '.join(ids)}")
        return value

    return check


#: A refusal's ground and an extension's, as a request body names them (an enum in OpenAPI).
RefusalGround = Annotated[str, AfterValidator(one_of(REFUSAL_GROUND_IDS, "a refusal ground")),
                          WithJsonSchema({"type": "string", "enum": list(REFUSAL_GROUND_IDS)})]
ExtensionGround = Annotated[str, AfterValidator(one_of(EXTENSION_GROUND_IDS, "an extension ground")),
                            WithJsonSchema({"type": "string", "enum": list(EXTENSION_GROUND_IDS)})]


def refusal_grounds(law: str, request_type: str) -> list[Ground]:
    """The grounds on which ``law`` lets a request of ``request_type`` be refused."""
    return [g for g in CATALOGUE.refusals if g.law == law and request_type in g.types]


def extension_grounds(law: str) -> list[Ground]:
    """The grounds on which ``law`` lets a request's deadline be extended."""
    return [g for g in CATALOGUE.extensions if g.law == law]


def remedies(laws: Iterable[str]) -> list[Remedy]:
    """The remedies outside the clinic under each of ``laws``, the first law's first."""
    order = list(dict.fromkeys(laws))
    return sorted((r for r in CATALOGUE.remedies if r.law in order), key=lambda r: order.index(r.law))


def how_to_object(decision: Literal["refusal", "extension"], language: str) -> str:
    """How to object to a refusal or to an extension, in ``language``."""
    texts = CATALOGUE.how_to_object[decision]
    return texts.get(language) or texts["en"]


i18n.words_elsewhere("ground", lambda lang, code: GROUNDS[code].text(lang) if code in GROUNDS else None)
