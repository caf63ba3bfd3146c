"""``cardio record`` without the terminal: record over the link, store, screen.

:func:`record_and_store` runs a :class:`~companion.link.RecordingSession` whose listener
saves a checkpoint of the samples into the history about twice a second (so a crash
keeps what arrived), commits the final recording the moment it is complete, then runs
the local screening (``ecg.screening.screen``) and, when available, the interval
measurements (``ecg.delineate.measure``) and stores their results.

If the database refuses the final write (locked, disk full), the recording goes to a
recovery file instead (:mod:`companion.recovery`) and the outcome says where.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from companion import recovery
from companion.assembler import FrameAssembler
from companion.discovery import RadioBackends
from companion.errors import CompanionError, RecordingAbortedError, StoreError
from companion.link import RecordingSession
from companion.link_options import LinkListener, LinkOptions
from companion.recording import MIN_SCREENED_S, Recording
from companion.store import Store

log = logging.getLogger(__name__)

#: shortest (contiguous) signal screened; anything shorter is kept as "too short", seconds
MIN_SCREEN_S = MIN_SCREENED_S


@dataclasses.dataclass
class RecordOutcome:
    """What :func:`record_and_store` did.

    Attributes
    ----------
    recording : Recording
    recording_id : int or None
        Id in the history, None when the database refused it.
    recovery_path : Path or None
        Recovery file holding the samples when the database refused them.
    store_error : str or None
    local_result, measurements : dict or None
    screening_error : str or None
        Why there is no local result.
    timings_s : dict
        ``last_sample`` → ``stored`` → ``screened`` (``time.perf_counter`` values).
    """

    recording: Recording
    recording_id: int | None = None
    recovery_path: Path | None = None
    store_error: str | None = None
    local_result: dict[str, Any] | None = None
    measurements: dict[str, Any] | None = None
    screening_error: str | None = None
    timings_s: dict[str, float] = dataclasses.field(default_factory=dict)


class _StoringListener(LinkListener):
    """Checkpoints into the store and forwards everything to the UI listener."""

    def __init__(self, store: Store, ui: LinkListener) -> None:
        self.store = store
        self.ui = ui
        self.recording_id: int | None = None
        self.error: StoreError | None = None

    def prompt(self, text: str) -> None:
        self.ui.prompt(text)

    def connected(self, device: dict[str, Any]) -> None:
        self.ui.connected(device)

    def started(
        self, session_id: int, fs_hz: float, expected_samples: int, adc_gain_counts_per_mv: float, baseline_counts: int
    ) -> None:
        self.ui.started(session_id, fs_hz, expected_samples, adc_gain_counts_per_mv, baseline_counts)

    def progress(self, assembler: FrameAssembler, expected_samples: int) -> None:
        self.ui.progress(assembler, expected_samples)

    def checkpoint(self, snapshot: Recording) -> None:
        if self.error is not None or snapshot.n_samples == 0:
            return
        try:
            if self.recording_id is None:
                self.recording_id = self.store.begin_recording(snapshot)
            else:
                self.store.checkpoint_recording(self.recording_id, snapshot)
        except StoreError as exc:
            # keep recording: the final write tries again, then falls back to a recovery file
            log.warning("checkpoint not saved: %s", exc)
            self.error = exc
        self.ui.checkpoint(snapshot)


def store_final(store: Store, rec: Recording, recording_id: int | None, recovery_dir: Path) -> RecordOutcome:
    """Commit the final recording, or write it to a recovery file if the database refuses."""
    outcome = RecordOutcome(recording=rec)
    try:
        if recording_id is None:
            outcome.recording_id = store.add_recording(rec)
        else:
            store.finish_recording(recording_id, rec)
            outcome.recording_id = recording_id
    except StoreError as exc:
        outcome.store_error = str(exc)
        outcome.recovery_path = recovery.write_recovery(rec, recovery_dir, recording_id)
        log.error("recording kept in recovery file %s: %s", outcome.recovery_path, exc)
    return outcome


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _context(sig_mv: np.ndarray, fs_hz: float) -> Any:
    """The signal's analysis context (``ecg.context``), or None when it cannot hold it
    (screening then reports the signal unreadable by itself)."""
    lead_context = _optional("ecg.context", "LeadContext")
    try:
        return None if lead_context is None else lead_context.of(sig_mv, fs_hz)
    except Exception:  # noqa: BLE001 - e.g. NaN samples: screen() answers "unreadable" itself
        return None


def screen_recording(rec: Recording, *, sex: str | None = None
                     ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]:
    """Run the local screening and the interval measurements.

    A recording (or, when incomplete, its first contiguous part) shorter than
    :data:`MIN_SCREEN_S` is not screened: it is kept as "too short".

    Parameters
    ----------
    rec : Recording
    sex : ``"M"``, ``"F"`` or None
        From the profile: selects the long-QTc limit of the measurements.

    Returns
    -------
    (local_result, measurements, screening_error)
    """
    screen = _optional("ecg.screening", "screen")
    measure = _optional("ecg.delineate", "measure")
    stop = rec.n_samples if rec.complete or not rec.gaps else rec.gaps[0][0]
    sig_mv = rec.signal_mv()[:stop]
    if stop < MIN_SCREEN_S * rec.sample_rate_hz:
        what = "signal" if rec.complete else "contiguous signal"
        return None, None, (f"too short: only {stop / rec.sample_rate_hz:.1f} s of {what} "
                            f"(at least {MIN_SCREEN_S:.0f} s needed): not screened")
    local = measurements = None
    error = None
    context = _context(np.asarray(sig_mv), rec.sample_rate_hz)  # R peaks and filtered views once for both
    if screen is None:
        error = "local screening is not available (ecg.screening missing)"
    else:
        try:
            local = screen(np.asarray(sig_mv), rec.sample_rate_hz, context=context).to_dict()
            if not rec.complete:
                local["partial"] = True
        except Exception as exc:  # noqa: BLE001 - screening must never lose a stored recording
            error = f"screening failed: {exc}"
            log.warning("%s", error, exc_info=not _is_signal_error(exc))
    if measure is not None and (local or {}).get("category") != "unreadable":  # no intervals from an unreadable signal
        try:
            measurements = measure(np.asarray(sig_mv), rec.sample_rate_hz, sex=sex, context=context).to_dict()
        except Exception as exc:  # noqa: BLE001 - measurements are optional extras
            log.info("no measurements: %s", exc)
    return local, measurements, error


def warm_up() -> None:
    """Import the screening code and load its model ahead of time (runs during the recording).

    Importing ``ecg`` and loading the model take seconds on a slow machine; doing it while
    the patient holds the device keeps them out of the time from the last sample to the
    result.
    """
    fs_hz = 300.0
    t = np.arange(int(30 * fs_hz)) / fs_hz
    beats_mv = np.sin(2 * np.pi * 1.2 * t) ** 15
    for module in ("ecg.screening", "ecg.delineate"):
        func = _optional(module, "screen" if module == "ecg.screening" else "measure")
        if func is None:
            continue
        try:
            func(beats_mv, fs_hz)  # loads and caches the model, compiles what is lazy
        except Exception:  # noqa: BLE001 - a warm-up failure only costs time later
            log.debug("%s warm-up failed", module, exc_info=True)


def _cpu_timed(func: Any, *args: Any) -> tuple[Any, float]:
    """``func(*args)`` and the CPU seconds this thread spent in it."""
    c0 = time.thread_time()
    result = func(*args)
    return result, time.thread_time() - c0


def _timed_warm_up() -> float:
    warm_up()
    return time.perf_counter()


def _is_signal_error(exc: Exception) -> bool:
    signal_error = _optional("ecg.errors", "SignalError")
    return signal_error is not None and isinstance(exc, signal_error)


async def record_and_store(
    store: Store,
    recovery_dir: Path,
    backends: RadioBackends,
    options: LinkOptions,
    ui: LinkListener | None = None,
) -> RecordOutcome:
    """Record one session, store it, screen it, store the results.

    An interruption (Ctrl-C, task cancelled) stores what arrived, marked incomplete,
    before the cancellation goes on.

    Raises
    ------
    DeviceNotFoundError, NotAnEcgDeviceError, LinkError
        Before any sample arrived (nothing to store).
    RecordingAbortedError
        The session ended without a single sample (e.g. no finger contact).
    """
    listener = _StoringListener(store, ui or LinkListener())
    session = RecordingSession(backends, options, listener)
    warming = asyncio.ensure_future(asyncio.to_thread(_timed_warm_up))
    try:
        rec = await session.run()
    except asyncio.CancelledError:
        if session.assembler is not None:
            store_final(store, session.snapshot(), listener.recording_id, recovery_dir)
        raise
    if rec.n_samples == 0:
        await session.aclose()
        raise RecordingAbortedError(f"nothing was recorded ({session.end_message or 'no samples'})", samples_received=0)
    try:
        outcome = await _store_and_screen(store, recovery_dir, rec, listener, warming, session.last_frame_at)
        outcome.timings_s["link_cpu"] = session.processing_cpu_s
        return outcome
    finally:
        await session.aclose()


async def _store_and_screen(
    store: Store,
    recovery_dir: Path,
    rec: Recording,
    listener: _StoringListener,
    warming: asyncio.Future[float],
    last_frame_at: float | None,
) -> RecordOutcome:
    last_sample = last_frame_at or time.perf_counter()
    outcome = store_final(store, rec, listener.recording_id, recovery_dir)
    outcome.timings_s["last_sample"] = last_sample
    outcome.timings_s["stored"] = time.perf_counter()
    try:
        outcome.timings_s["warm"] = await warming
    except Exception:  # noqa: BLE001 - screening below reports its own failure
        log.debug("warm-up failed", exc_info=True)
    if rec.n_samples:
        try:
            sex = store.profile().sex
        except CompanionError:  # an unreadable profile only costs the sex-specific QTc limit
            sex = None
        (outcome.local_result, outcome.measurements, outcome.screening_error), cpu_s = await asyncio.to_thread(
            _cpu_timed, lambda: screen_recording(rec, sex=sex)
        )
        outcome.timings_s["screening_cpu"] = cpu_s
    if outcome.recording_id is not None:
        try:
            if outcome.local_result is not None:
                store.set_local_result(outcome.recording_id, outcome.local_result)
            if outcome.measurements is not None:
                store.set_measurements(outcome.recording_id, outcome.measurements)
        except StoreError as exc:
            outcome.store_error = f"results not stored: {exc}"
    outcome.timings_s["screened"] = time.perf_counter()
    return outcome
