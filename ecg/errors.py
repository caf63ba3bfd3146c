"""Errors of the ``ecg`` package.

One base class, :class:`EcgError`; subclasses carry data describing what went wrong.

- :class:`SignalError`: the signal itself is unusable (NaN/inf samples, too short,
  impossible sample rate, flat, clipped). The caller passed a signal that cannot give a
  trustworthy answer.
- :class:`InputFormatError`: a file or text (WFDB, CSV) could not be parsed. Carries the
  source and, where known, the 1-based line number.
"""

from __future__ import annotations

__all__ = ["EcgError", "SignalError", "InputFormatError"]


class EcgError(Exception):
    """Base class of every error raised by the ``ecg`` package."""


class SignalError(EcgError, ValueError):
    """The signal cannot be analysed.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    reason : str
        Short machine-readable code, e.g. ``"non_finite"``, ``"too_short"``,
        ``"bad_fs"``, ``"flat"``, ``"clipped"``, ``"bad_shape"``.
    fs_hz : float or None
        The sample rate involved, if any.
    n_samples : int or None
        The number of samples involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        fs_hz: float | None = None,
        n_samples: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.fs_hz = fs_hz
        self.n_samples = n_samples


class InputFormatError(EcgError, ValueError):
    """A file or text could not be read as an ECG record.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    source : str
        The path or ``"<text>"`` that was being read.
    line : int or None
        1-based line number of the offending line (CSV), if known.
    """

    def __init__(self, message: str, *, source: str, line: int | None = None) -> None:
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
