"""Recovery files: received samples kept on disk when the history database refused them.

When the database is locked or the disk is full at the moment a recording must be
stored, ``cardio record`` writes the whole :class:`~companion.recording.Recording` to a
recovery file (an ``.npz`` holding the int32 samples and a JSON metadata string, written
atomically) and tells the user. The next ``cardio record`` or ``cardio history`` imports
every recovery file into the history and deletes it only after the import committed.

Example
-------
>>> import numpy as np, tempfile, pathlib
>>> from companion.recording import Recording
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> path = write_recovery(Recording(np.arange(5, dtype=np.int32), 300.0, 1000.0), folder)
>>> read_recovery(path).samples.tolist()
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from companion.errors import RecoveryError, StoreError
from companion.recording import ContactEvent, Recording

log = logging.getLogger(__name__)

SUFFIX = ".npz"
FORMAT_VERSION = 1
#: used when the configured recovery folder cannot be written
FALLBACK_DIR = Path(tempfile.gettempdir()) / f"cardiolink-recovery-{os.getuid()}"


def recording_to_meta(rec: Recording, recording_id: int | None = None) -> dict[str, Any]:
    """Everything of a recording except its samples, as JSON-able dict (with the id of
    the history row the session already had, if any)."""
    meta: dict[str, Any] = {} if recording_id is None else {"recording_id": int(recording_id)}
    return meta | {
        "format_version": FORMAT_VERSION,
        "sample_rate_hz": rec.sample_rate_hz,
        "adc_gain_counts_per_mv": rec.adc_gain_counts_per_mv,
        "baseline_counts": rec.baseline_counts,
        "started_at": rec.started_at.isoformat(),
        "device": rec.device,
        "session_id": rec.session_id,
        "expected_samples": rec.expected_samples,
        "contact_events": [e.to_dict() for e in rec.contact_events],
        "gaps": [list(g) for g in rec.gaps],
        "complete": rec.complete,
        "verified": rec.verified,
        "frames_resent": rec.frames_resent,
        "reconnects": rec.reconnects,
        "frames_malformed": rec.frames_malformed,
    }


def recording_from_meta(meta: dict[str, Any], samples: np.ndarray) -> Recording:
    """Inverse of :func:`recording_to_meta`."""
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported recovery format {meta.get('format_version')!r}")
    return Recording(
        samples=samples,
        sample_rate_hz=float(meta["sample_rate_hz"]),
        adc_gain_counts_per_mv=float(meta["adc_gain_counts_per_mv"]),
        baseline_counts=int(meta["baseline_counts"]),
        started_at=dt.datetime.fromisoformat(meta["started_at"]),
        device=dict(meta["device"]),
        session_id=meta["session_id"],
        expected_samples=meta["expected_samples"],
        contact_events=[ContactEvent.from_dict(d) for d in meta["contact_events"]],
        gaps=[(int(a), int(b)) for a, b in meta["gaps"]],
        complete=bool(meta["complete"]),
        verified=bool(meta["verified"]),
        frames_resent=int(meta["frames_resent"]),
        reconnects=int(meta["reconnects"]),
        frames_malformed=int(meta["frames_malformed"]),
    )


def _write(rec: Recording, folder: Path, recording_id: int | None) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = rec.started_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"recording-{stamp}-{uuid.uuid4().hex[:8]}{SUFFIX}"
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            meta = recording_to_meta(rec, recording_id)
            np.savez(fh, samples=rec.samples.astype("<i4"), meta=np.array(json.dumps(meta)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_recovery(rec: Recording, folder: Path, recording_id: int | None = None) -> Path:
    """Save a recording to a recovery file; falls back to a temp folder if ``folder`` fails.

    Parameters
    ----------
    rec : Recording
    folder : Path
        Preferred folder (``CompanionConfig.recovery_dir``).
    recording_id : int, optional
        The history row the session already has (checkpoints): the import finishes that
        row instead of adding a second copy.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    RecoveryError
        Neither folder could be written.
    """
    errors = []
    for candidate in (folder, FALLBACK_DIR):
        try:
            return _write(rec, candidate, recording_id)
        except OSError as exc:
            errors.append(f"{candidate}: {exc}")
    raise RecoveryError(folder, "cannot write the recovery file anywhere: " + "; ".join(errors))


def read_recovery(path: Path) -> Recording:
    """Load a recovery file.

    Raises
    ------
    RecoveryError
        The file is unreadable or not a cardiolink recovery file.
    """
    return _read(path)[0]


def _read(path: Path) -> tuple[Recording, int | None]:
    try:
        with np.load(path, allow_pickle=False) as data:
            samples = data["samples"].astype(np.int32)
            meta = json.loads(str(data["meta"]))
        rid = meta.get("recording_id")
        return recording_from_meta(meta, samples), (int(rid) if isinstance(rid, int) else None)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RecoveryError(path, f"not a readable recovery file: {exc}") from exc


def pending_files(folders: list[Path]) -> list[Path]:
    """Recovery files waiting in ``folders``, oldest name first."""
    found: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            found.extend(sorted(folder.glob(f"recording-*{SUFFIX}")))
    return found


#: screening of an imported recording: Recording -> (local result, measurements, error)
Screen = Callable[[Recording], tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]]


def import_pending(store: Any, folder: Path, *, screen: Screen | None = None) -> list[int]:
    """Import every recovery file of ``folder`` (and of the fallback folder) into ``store``.

    A session that already had a history row (its checkpoints) is finished in that row,
    never stored twice; the imported recording is screened as ``cardio record`` would have
    (*screen*, default :func:`companion.recorder.screen_recording`) and the results stored.
    A file is deleted only after its recording committed; an unreadable file is renamed
    with a ``.bad`` suffix so it is not retried forever. Stops at the first database
    error (the files stay for the next run).

    Returns
    -------
    list of int
        Ids of the recordings imported.
    """
    if screen is None:
        from companion.recorder import screen_recording as screen  # the one screening path of a recording
    imported: list[int] = []
    for path in pending_files([folder, FALLBACK_DIR]):
        try:
            rec, recording_id = _read(path)
        except RecoveryError as exc:
            log.warning("%s", exc)
            path.rename(path.with_suffix(path.suffix + ".bad"))
            continue
        try:
            rid = store.store_recovered(rec, recording_id)
        except StoreError as exc:
            log.warning("recovery file %s not imported yet: %s", path, exc)
            break
        path.unlink()
        imported.append(rid)
        log.info("imported recovery file %s as recording %d", path.name, rid)
        _screen_imported(store, rid, rec, screen)
    return imported


def _screen_imported(store: Any, rid: int, rec: Recording, screen: Screen) -> None:
    if not rec.n_samples:
        return
    local, measurements, error = screen(rec)
    if error:
        log.warning("imported recording %d: %s", rid, error)
    try:
        if local is not None:
            store.set_local_result(rid, local)
        if measurements is not None:
            store.set_measurements(rid, measurements)
    except StoreError as exc:
        log.warning("results of imported recording %d not stored: %s", rid, exc)
