"""Errors of the companion package: one base class, subclasses that carry data.

A misuse by the caller (bad argument, unknown recording id) is a different class from a
misbehaving peer (a device that breaks the protocol) or a failing environment (a locked
database, a full disk).
"""

from __future__ import annotations

from pathlib import Path


class CompanionError(Exception):
    """Base class of every error raised by the companion."""


class ConfigError(CompanionError):
    """Invalid configuration value (caller's fault)."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        super().__init__(f"invalid setting {key}={value!r}: {reason}")


class StoreError(CompanionError):
    """The history database could not be read or written."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{message} ({self.path})")


class StoreLockedError(StoreError):
    """Another process holds the database lock longer than the busy timeout."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full."""


class StoreSchemaError(StoreError):
    """The database was written by a newer version of cardiolink, or is not ours."""


class StoreReadOnlyError(StoreError):
    """The history is open read-only (its folder or disk cannot be written): reading works, writing does not."""


class CorruptRecordError(StoreError):
    """One stored recording (or its results) cannot be decoded; the others are unaffected.

    Attributes
    ----------
    recording_id : int
        The damaged recording.
    """

    def __init__(self, path: Path | str, recording_id: int, detail: str) -> None:
        self.recording_id = recording_id
        super().__init__(path, f"recording {recording_id} is damaged and cannot be read ({detail})")


class RecordingNotFoundError(CompanionError):
    """No recording with this id in the history (caller's fault)."""

    def __init__(self, recording_id: int) -> None:
        self.recording_id = recording_id
        super().__init__(f"no recording with id {recording_id}")


class LinkError(CompanionError):
    """The BLE link to the device failed."""


class DeviceNotFoundError(LinkError):
    """No device advertising the ECG service (or with the given address) was found."""

    def __init__(self, identifier: str, timeout_s: float) -> None:
        self.identifier = identifier
        self.timeout_s = timeout_s
        super().__init__(f"no ECG device found ({identifier}) within {timeout_s:g} s")


class NotAnEcgDeviceError(LinkError):
    """The device connected but does not offer the cardiolink ECG service."""

    def __init__(self, address: str, name: str | None, service_uuid: str) -> None:
        self.address = address
        self.name = name
        self.service_uuid = service_uuid
        super().__init__(
            f"device {name or '?'} ({address}) does not offer the ECG service {service_uuid}: "
            "it is not a cardiolink device, refusing it"
        )


class DeviceProtocolError(LinkError):
    """The device broke the protocol in a way the link cannot recover from (peer's fault)."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        self.address = address
        super().__init__(message)


class RecordingAbortedError(LinkError):
    """The session ended before completion and could not be resumed."""

    def __init__(self, message: str, *, samples_received: int) -> None:
        self.samples_received = samples_received
        super().__init__(message)


class RecoveryError(CompanionError):
    """A recovery file could not be written or read."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{message} ({self.path})")


class SimulationSetupError(CompanionError):
    """``--simulate`` could not start the simulated device (bad ``--sim-*`` option or source)."""

    def __init__(self, option: str | None, message: str) -> None:
        self.option = option
        super().__init__(f"cannot start the simulated device: {message}")
