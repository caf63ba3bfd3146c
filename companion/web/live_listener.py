"""A :class:`companion.link.LinkListener` that also feeds the live view.

``cardio record`` wraps its terminal UI listener (two lines; a no-op when no
``cardio serve`` runs for the same data folder)::

    async with live_view(config, ui) as listener:
        outcome = await record_and_store(store, config.recovery_dir, backends, options, listener)
        listener.report(outcome)

The page's "Record (simulated)" button uses ``LiveListener(hub.publish)`` in-process.

``publish`` is any callable taking a live message dict: :meth:`LivePublisher` methods go
through :func:`publisher_sink`, the in-process hub's :meth:`LiveHub.publish` directly. The
wrapped listener sees every call unchanged; a failing publish never disturbs it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from companion.assembler import FrameAssembler
from companion.link_options import LinkListener
from companion.recording import Recording
from companion.web.present import result_words
from companion.web.publish import LivePublisher

log = logging.getLogger(__name__)

Publish = Callable[[dict[str, Any]], None]
#: samples per live message at most
CHUNK = 1000


def publisher_sink(publisher: Any) -> Publish:
    """Adapt a :class:`companion.web.publish.LivePublisher` to a message callable."""

    def publish(msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "start":
            publisher.start(fs_hz=msg["fs_hz"], duration_s=msg["duration_s"], device=msg.get("device", ""))
        elif kind == "status":
            publisher.status(msg["message"])
        elif kind == "samples":
            publisher.samples(msg["first_index"], msg["mv"])
        elif kind == "done":
            publisher.done(msg.get("recording_id"), msg.get("result"))
        elif kind == "error":
            publisher.error(msg["message"])

    return publish


class LiveListener(LinkListener):
    """Forward link events to ``inner`` and publish them as live messages.

    Samples are published as the contiguous prefix grows, converted to millivolts with
    the scale the device announced at START.
    """

    def __init__(self, publish: Publish, inner: LinkListener | None = None) -> None:
        self._publish = publish
        self.inner = inner or LinkListener()
        self._sent = 0
        self._scale: tuple[float, int] | None = None
        self._device = ""
        self._contacts_sent = 0

    def _emit(self, msg: dict[str, Any]) -> None:
        try:
            self._publish(msg)
        except Exception as exc:  # the live view must never break a recording
            log.debug("live view publish failed: %s", exc)

    def prompt(self, text: str) -> None:
        self.inner.prompt(text)
        self._emit({"type": "status", "message": text})

    def connected(self, device: dict[str, Any]) -> None:
        self.inner.connected(device)
        self._device = str(device.get("name") or device.get("address") or "")
        self._emit({"type": "status", "message": f"Connected to {self._device or 'the device'}"})

    def started(self, session_id: int, fs_hz: float, expected_samples: int, adc_gain_counts_per_mv: float,
                baseline_counts: int) -> None:
        self.inner.started(session_id, fs_hz, expected_samples, adc_gain_counts_per_mv, baseline_counts)
        self._sent = 0
        self._contacts_sent = 0
        self._scale = (float(adc_gain_counts_per_mv), int(baseline_counts))
        self._emit({"type": "start", "fs_hz": float(fs_hz), "duration_s": expected_samples / float(fs_hz),
                    "device": self._device})

    def checkpoint(self, snapshot: Recording) -> None:
        self.inner.checkpoint(snapshot)
        self._scale = (float(snapshot.adc_gain_counts_per_mv), int(snapshot.baseline_counts))

    def progress(self, assembler: FrameAssembler, expected_samples: int) -> None:
        self.inner.progress(assembler, expected_samples)
        if self._scale is None:
            return
        counts = assembler.contiguous_samples()
        if counts.shape[0] <= self._sent:
            return
        gain, baseline = self._scale
        new_mv = (counts[self._sent :].astype(np.float64) - baseline) / gain
        for i in range(0, new_mv.shape[0], CHUNK):
            chunk = np.round(new_mv[i : i + CHUNK], 4)
            self._emit({"type": "samples", "first_index": self._sent + i, "mv": chunk.tolist()})
        self._sent = int(counts.shape[0])
        self._publish_contacts(assembler)

    def _publish_contacts(self, assembler: FrameAssembler) -> None:
        """Mark on the live trace where contact was lost and regained (one sample: the trace is joined there)."""
        lost = assembler.lead_off_samples()
        for index in lost[self._contacts_sent:]:
            self._emit({"type": "contact", "sample_index": int(index), "state": "lost"})
            self._emit({"type": "contact", "sample_index": int(index), "state": "regained"})
        self._contacts_sent = len(lost)

    def finished(self, recording_id: int | None, result: str | None = None) -> None:
        """Tell the live view the recording is stored (call after saving and screening)."""
        self._emit({"type": "done", "recording_id": recording_id, "result": result})

    def failed(self, message: str) -> None:
        """Tell the live view the recording failed."""
        self._emit({"type": "error", "message": message})

    def report(self, outcome: Any) -> None:
        """Tell the live view how :func:`companion.recorder.record_and_store` ended."""
        if outcome.recording_id is None:
            self.failed(f"not stored: {outcome.store_error}")
        else:
            words = result_words(outcome.local_result)
            if words is None and outcome.screening_error and "too short" in outcome.screening_error:
                words = "Too short — record again"
            self.finished(outcome.recording_id, words or outcome.screening_error)


@contextlib.asynccontextmanager
async def live_view(config: Any, inner: LinkListener | None = None) -> AsyncIterator[LiveListener]:
    """A :class:`LiveListener` publishing to the ``cardio serve`` of ``config.data_dir``, if one runs."""
    async with LivePublisher.discover(config) as publisher:
        yield LiveListener(publisher_sink(publisher), inner)
