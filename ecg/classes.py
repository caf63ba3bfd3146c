"""The one table of rhythm classes and their words.

Every output that names a rhythm (screening, the cloud answer, the companion's pages and
reports, the ``cardio`` command, training) takes its codes, categories and words from
here. The model's classes are the CinC 2017 codes, in the order of the model's output
(:data:`CLASS_CODES`); :func:`check_model_metadata` refuses a model whose sidecar
(``ecg/models/rhythm.json``) lists other classes or another order.

Besides the four model classes the table holds one decision outcome that is no model
class: **inconclusive** (code ``"?"``). A readable recording whose decided class is not
probable enough gets category ``inconclusive``; the answer's ``code`` then stays the
model's decided CinC code (``N``, ``A`` or ``O``: the best guess), so ``"?"`` is never an
answer's code. It only names the table entry (``by_code("?")``).

Colours are CSS hex colours shared by the web pages and the PDF/SVG reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecg.errors import EcgError

__all__ = [
    "RhythmClass",
    "ClassTableError",
    "CLASS_CODES",
    "CATEGORIES",
    "RHYTHM_CLASSES",
    "INCONCLUSIVE",
    "UNREADABLE",
    "SAFETY_TEXT",
    "by_code",
    "by_category",
    "category_of",
    "check_model_metadata",
]

#: shown with every rhythm result, on every page, report and command output
SAFETY_TEXT = (
    "This is a screening result, not a diagnosis. It cannot detect a heart attack. "
    "If you have chest pain, fainting, or severe shortness of breath, call emergency services now."
)


class ClassTableError(EcgError, ValueError):
    """A code, a category or a model's class list does not match the table.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    found : object
        The value that did not match.
    """

    def __init__(self, message: str, *, found: Any) -> None:
        super().__init__(message)
        self.found = found


@dataclass(frozen=True)
class RhythmClass:
    """One rhythm class (or the inconclusive outcome) and its words.

    Attributes
    ----------
    code : str
        CinC 2017 code ``N``, ``A``, ``O``, ``~`` (``?`` for the inconclusive outcome).
    category : str
        Machine word: ``sinus_rhythm``, ``atrial_fibrillation``, ``other_rhythm``,
        ``unreadable`` or ``inconclusive``.
    patient_label : str
        Short words for the person who recorded.
    patient_meaning : str
        One or two sentences on what the result means.
    patient_advice : str
        What to do next.
    clinician_label : str
        Words for a clinician (reports, the cloud's ``diagnoses``).
    colour : str
        CSS hex colour.
    """

    code: str
    category: str
    patient_label: str
    patient_meaning: str
    patient_advice: str
    clinician_label: str
    colour: str

    def __post_init__(self) -> None:
        if len(self.code) != 1 or not self.category.isidentifier() or not self.colour.startswith("#"):
            raise ClassTableError(f"malformed class entry {self.code!r}/{self.category!r}", found=self.code)


RHYTHM_CLASSES: tuple[RhythmClass, ...] = (
    RhythmClass(
        code="N",
        category="sinus_rhythm",
        patient_label="Sinus rhythm",
        patient_meaning="Your heart beat in a regular pattern during this recording.",
        patient_advice="If you feel unwell or have symptoms, talk to a doctor even so.",
        clinician_label="Sinus rhythm",
        colour="#2f9e62",
    ),
    RhythmClass(
        code="A",
        category="atrial_fibrillation",
        patient_label="Possible atrial fibrillation",
        patient_meaning="Your heart rhythm looked irregular in a way that can be atrial fibrillation.",
        patient_advice="Show this recording to a doctor soon; do not change any medication on your own.",
        clinician_label="Atrial fibrillation (suspected)",
        colour="#d0343f",
    ),
    RhythmClass(
        code="O",
        category="other_rhythm",
        patient_label="Other rhythm",
        patient_meaning="Your heart rhythm was neither a regular sinus rhythm nor atrial fibrillation.",
        patient_advice="Show this recording to a doctor, especially if it happens again or you have symptoms.",
        clinician_label="Other rhythm (not sinus, not AF)",
        colour="#d98a1c",
    ),
    RhythmClass(
        code="~",
        category="unreadable",
        patient_label="Unreadable — try again",
        patient_meaning="The recording was too noisy or incomplete to read.",
        patient_advice="Sit still, rest your arms, keep good contact with the electrodes and record again.",
        clinician_label="Unreadable (noise or poor contact)",
        colour="#6b6b75",
    ),
)

#: the inconclusive outcome (no model class: see the module docstring)
INCONCLUSIVE = RhythmClass(
    code="?",
    category="inconclusive",
    patient_label="Inconclusive",
    patient_meaning="The recording could be read, but the rhythm could not be told with confidence.",
    patient_advice="Record again while sitting still; if results stay inconclusive, talk to a doctor.",
    clinician_label="Inconclusive (low model confidence)",
    colour="#9b7bb8",
)

#: CinC codes in the order of the model's output
CLASS_CODES: tuple[str, ...] = tuple(c.code for c in RHYTHM_CLASSES)
#: every category an answer can carry, model classes first
CATEGORIES: tuple[str, ...] = tuple(c.category for c in RHYTHM_CLASSES) + (INCONCLUSIVE.category,)

_BY_CODE = {c.code: c for c in (*RHYTHM_CLASSES, INCONCLUSIVE)}
_BY_CATEGORY = {c.category: c for c in (*RHYTHM_CLASSES, INCONCLUSIVE)}
#: the unreadable class
UNREADABLE = _BY_CODE["~"]


def by_code(code: str) -> RhythmClass:
    """The table entry of a code.

    Raises
    ------
    ClassTableError
        Unknown code.

    Examples
    --------
    >>> by_code("A").category
    'atrial_fibrillation'
    """
    try:
        return _BY_CODE[code]
    except (KeyError, TypeError):
        raise ClassTableError(f"unknown rhythm code {code!r}", found=code) from None


def by_category(category: str) -> RhythmClass:
    """The table entry of a category.

    Raises
    ------
    ClassTableError
        Unknown category.

    Examples
    --------
    >>> by_category("unreadable").code
    '~'
    """
    try:
        return _BY_CATEGORY[category]
    except (KeyError, TypeError):
        raise ClassTableError(f"unknown rhythm category {category!r}", found=category) from None


def category_of(code: str) -> str:
    """Category of a model code: ``"N"`` → ``"sinus_rhythm"`` (see :func:`by_code`)."""
    return by_code(code).category


def check_model_metadata(meta: Mapping[str, Any]) -> None:
    """Refuse a model sidecar whose classes differ from :data:`CLASS_CODES`.

    Parameters
    ----------
    meta : mapping
        The parsed ``rhythm.json``; its ``classes`` must equal :data:`CLASS_CODES` in order.

    Raises
    ------
    ClassTableError
        ``classes`` missing, or other codes, or another order.

    Examples
    --------
    >>> check_model_metadata({"classes": ["N", "A", "O", "~"]})
    >>> check_model_metadata({"classes": ["A", "N", "O", "~"]})
    Traceback (most recent call last):
    ...
    ecg.classes.ClassTableError: model classes ['A', 'N', 'O', '~'] differ from the class table ['N', 'A', 'O', '~']
    """
    classes = meta.get("classes")
    if not isinstance(classes, Sequence) or isinstance(classes, str):
        raise ClassTableError("model metadata has no 'classes' list", found=classes)
    if [str(c) for c in classes] != list(CLASS_CODES):
        raise ClassTableError(
            f"model classes {list(classes)} differ from the class table {list(CLASS_CODES)}", found=list(classes)
        )
