"""What the person adds to their recordings: symptoms, a note, and their profile.

Symptoms come from a fixed list, like the consumer ECG apps (:data:`SYMPTOMS`); the
profile (:class:`Profile`: ``name``, ``sex``, ``birth_date``) is kept in the local history
database only, and is used for the report header and the sex-specific long-QTc limit.

Example
-------
>>> parse_symptoms(["Chest pain", "dizziness"])
('chest_pain', 'dizziness')
>>> Profile.from_dict({"name": "Ada", "sex": "F", "birth_date": "1960-05-01"}).age_years(dt.date(2026, 5, 1))
66
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from companion.errors import ConfigError

#: symptom id -> words (order = order shown in forms)
SYMPTOMS: dict[str, str] = {
    "palpitations": "Palpitations",
    "dizziness": "Dizziness",
    "chest_pain": "Chest pain",
    "shortness_of_breath": "Shortness of breath",
    "fatigue": "Fatigue",
    "none": "No symptoms",
}
#: longest note kept, characters
MAX_NOTE_CHARS = 2000
MAX_NAME_CHARS = 200
SEXES = ("M", "F")


def parse_symptoms(values: Iterable[str]) -> tuple[str, ...]:
    """Symptom ids from words or ids (``"Chest pain"``, ``"chest-pain"``, ``"chest_pain"``).

    Raises
    ------
    ConfigError
        An unknown symptom, or ``none`` together with a symptom.
    """
    out: list[str] = []
    for value in values:
        key = "_".join(str(value).strip().lower().replace("-", " ").replace("_", " ").split())
        if key == "no_symptoms":
            key = "none"
        if key not in SYMPTOMS:
            raise ConfigError("symptom", value, f"unknown symptom (choose from: {', '.join(SYMPTOMS)})")
        if key not in out:
            out.append(key)
    if "none" in out and len(out) > 1:
        raise ConfigError("symptom", ", ".join(out), "'none' cannot be given together with a symptom")
    return tuple(out)


def clean_note(note: str) -> str:
    """A note as stored: stripped, control characters except newlines removed, length-checked."""
    text = "".join(ch for ch in str(note) if ch == "\n" or ch.isprintable()).strip()
    if len(text) > MAX_NOTE_CHARS:
        raise ConfigError("note", f"{len(text)} characters", f"a note holds at most {MAX_NOTE_CHARS} characters")
    return text


def symptom_words(symptoms: Iterable[str]) -> list[str]:
    """Words of symptom ids (unknown ids are shown as they are)."""
    return [SYMPTOMS.get(s, s) for s in symptoms]


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """The person who records. Every field is optional.

    Attributes
    ----------
    name : str or None
    sex : ``"M"``, ``"F"`` or None
        Selects the long-QTc limit (450 ms men, 460 ms women).
    birth_date : datetime.date or None
    """

    name: str | None = None
    sex: str | None = None
    birth_date: dt.date | None = None

    def __post_init__(self) -> None:
        if self.name is not None and (not self.name.strip() or len(self.name) > MAX_NAME_CHARS
                                      or not self.name.isprintable()):
            raise ConfigError("name", self.name, f"must be 1..{MAX_NAME_CHARS} printable characters")
        if self.sex is not None and self.sex not in SEXES:
            raise ConfigError("sex", self.sex, "must be M or F")
        if self.birth_date is not None and not dt.date(1900, 1, 1) <= self.birth_date <= dt.date.today():
            raise ConfigError("birth_date", self.birth_date.isoformat(), "must be a past date after 1900")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Parse ``{"name", "sex", "birth_date": "YYYY-MM-DD"}`` (missing or null keys allowed).

        Raises
        ------
        ConfigError
            Unknown key or bad value.
        """
        unknown = set(data) - {"name", "sex", "birth_date"}
        if unknown:
            raise ConfigError("profile", sorted(unknown), "unknown keys (known: name, sex, birth_date)")
        birth = data.get("birth_date")
        return cls(
            name=None if data.get("name") is None else str(data["name"]).strip(),
            sex=None if data.get("sex") is None else str(data["sex"]).upper(),
            birth_date=None if birth is None else parse_date(str(birth)),
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "sex", "birth_date"}`` (``birth_date`` as ``YYYY-MM-DD`` or null)."""
        return {"name": self.name, "sex": self.sex,
                "birth_date": None if self.birth_date is None else self.birth_date.isoformat()}

    def age_years(self, on: dt.date | None = None) -> int | None:
        """Age in whole years on *on* (default today), None without a birth date."""
        if self.birth_date is None:
            return None
        on = on or dt.date.today()
        b = self.birth_date
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` → date; :class:`ConfigError` otherwise."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError("birth_date", text, "expected a date as YYYY-MM-DD") from None
