"""Errors of the ``simulator`` package.

One base class, :class:`SimulatorError`. A caller's mistake (a bad source spec, a bad
option) is a :class:`SimulatorUsageError`; trouble inside the virtual world (the
simulated link or device misbehaving) is a :class:`VirtualLinkError`.
"""

from __future__ import annotations

__all__ = [
    "SimulatorError",
    "SimulatorUsageError",
    "SourceSpecError",
    "SourceDataError",
    "VirtualLinkError",
]


class SimulatorError(Exception):
    """Base class of every error raised by the ``simulator`` package."""


class SimulatorUsageError(SimulatorError, ValueError):
    """The caller passed an invalid option.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    option : str or None
        Name of the offending option, if any.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class SourceSpecError(SimulatorUsageError):
    """A source spec string (``synthetic:af?hr=90``, a path) could not be understood.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    spec : str
        The spec string as given.
    """

    def __init__(self, message: str, *, spec: str) -> None:
        super().__init__(message, option="source")
        self.spec = spec


class SourceDataError(SimulatorError):
    """A replay source's data is missing or unusable.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    path : str
        The file or record involved.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class VirtualLinkError(SimulatorError):
    """The virtual radio could not do what was asked (device not found, not connected).

    Parameters
    ----------
    message : str
        Human-readable explanation.
    address : str or None
        The Bluetooth address involved, if any.
    """

    def __init__(self, message: str, *, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address
