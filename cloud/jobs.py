"""A queued analysis as bytes: what travels between API replicas and workers.

A :class:`Job` holds nothing tied to a process (no futures, no connections): it is
serialised by :meth:`Job.encode` into one ``bytes`` payload that any queue backend
carries (memory, Redis Streams) and any worker on any machine decodes with
:meth:`Job.decode`. Layout::

    <JSON header, UTF-8> b"\\n" <samples: little-endian int32, row-major (n_samples, n_leads)>

The header names the client (its immutable id), the record, the recording's scalars,
its lead names and sample count, and the request digest. A payload that does not
decode raises :class:`~cloud.errors.MalformedJob` (the worker dead-letters it).

The request digest (:func:`request_digest`) is SHA-256 over everything that defines the
recording (rate, gain, baseline, leads, samples) but not the ``recordId``: the same
``recordId`` sent again with other samples is a conflict (409), not a repeat.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud.errors import MalformedJob
from cloud.validation import LEAD_FIELDS, AnalysisRequest

FORMAT_VERSION = 1
_SAMPLE_DTYPE = np.dtype("<i4")
_KNOWN_LEADS = frozenset(LEAD_FIELDS.values())


def _samples_bytes(request: AnalysisRequest) -> bytes:
    return np.ascontiguousarray(request.samples_counts, dtype=_SAMPLE_DTYPE).tobytes()


def _describe(request: AnalysisRequest) -> dict[str, Any]:
    return {
        "fsHz": request.fs_hz,
        "adcGain": request.adc_gain_counts_per_mv,
        "baseline": request.baseline_counts,
        "leads": list(request.lead_names),
        "nSamples": int(request.samples_counts.shape[0]),
    }


def request_digest(request: AnalysisRequest) -> str:
    """SHA-256 (hex) of the recording a request carries, ``recordId`` excluded.

    Examples
    --------
    >>> from cloud.validation import parse_request
    >>> a = parse_request({"sampleRate": 100, "adcGain": 1, "dataI": [0] * 500, "recordId": "x"})
    >>> b = parse_request({"sampleRate": 100, "adcGain": 1, "dataI": [0] * 500, "recordId": "y"})
    >>> request_digest(a) == request_digest(b)
    True
    """
    h = hashlib.sha256(json.dumps(_describe(request), sort_keys=True).encode("utf-8"))
    h.update(_samples_bytes(request))
    return h.hexdigest()


def request_cost(request: AnalysisRequest) -> int:
    """Cost of a request for admission: samples × leads."""
    n_samples, n_leads = request.samples_counts.shape
    return int(n_samples) * int(n_leads)


def queue_key(client_id: str, record_id: str, digest: str) -> str:
    """Key of a job in the queue (:meth:`~cloud.queues.base.JobQueue.enqueue_once`):
    client, ``recordId`` and digest; at most one job per key is queued or in flight.

    Examples
    --------
    >>> queue_key("c1", "r1", "ab")
    '["c1", "r1", "ab"]'
    """
    return json.dumps([client_id, record_id, digest])


@dataclass(frozen=True)
class Job:
    """One analysis to run.

    Attributes
    ----------
    client_id : str
        Immutable id of the client (token) that asked; results are stored under it.
    request : AnalysisRequest
        The checked request.
    digest : str
        :func:`request_digest` of the request.
    enqueued_at_s : float
        Wall-clock time (``time.time()``) of the first enqueue, for latency figures.
    """

    client_id: str
    request: AnalysisRequest
    digest: str
    enqueued_at_s: float = field(default_factory=time.time)

    @classmethod
    def of(cls, client_id: str, request: AnalysisRequest) -> Job:
        """A job for *request* with its digest computed."""
        return cls(client_id=client_id, request=request, digest=request_digest(request))

    @property
    def key(self) -> tuple[str, str]:
        """Idempotency key ``(client_id, recordId)``."""
        return (self.client_id, self.request.record_id)

    @property
    def queue_key(self) -> str:
        """Key of the job in the queue (:func:`queue_key`)."""
        return queue_key(self.client_id, self.request.record_id, self.digest)

    def encode(self) -> bytes:
        """The payload put on the queue (see the module docstring for the layout)."""
        header = _describe(self.request) | {
            "v": FORMAT_VERSION,
            "clientId": self.client_id,
            "recordId": self.request.record_id,
            "digest": self.digest,
            "enqueuedAt": self.enqueued_at_s,
        }
        return json.dumps(header).encode("utf-8") + b"\n" + _samples_bytes(self.request)

    @classmethod
    def decode(cls, payload: bytes) -> Job:
        """Rebuild a job from :meth:`encode`'s bytes.

        Raises
        ------
        MalformedJob
            Not a payload of this format (the reason says what is wrong).
        """
        head, sep, raw = bytes(payload).partition(b"\n")
        if not sep:
            raise MalformedJob("no header line")
        try:
            header = json.loads(head)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedJob(f"header is not JSON ({exc})") from None
        if not isinstance(header, dict) or header.get("v") != FORMAT_VERSION:
            raise MalformedJob(f"unknown format version {header.get('v') if isinstance(header, dict) else None!r}")
        try:
            return cls._from_parts(header, raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedJob(f"bad header field ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _from_parts(cls, header: dict[str, Any], raw: bytes) -> Job:
        leads = tuple(str(x) for x in header["leads"])
        n_samples = int(header["nSamples"])
        if not leads or not set(leads) <= _KNOWN_LEADS or n_samples < 1:
            raise ValueError(f"leads {leads!r} / nSamples {n_samples}")
        if len(raw) != n_samples * len(leads) * _SAMPLE_DTYPE.itemsize:
            raise ValueError(f"{len(raw)} sample bytes for {n_samples} x {len(leads)} int32")
        fs_hz, gain = float(header["fsHz"]), float(header["adcGain"])
        if not (math.isfinite(fs_hz) and fs_hz > 0 and math.isfinite(gain) and gain > 0):
            raise ValueError(f"fsHz {fs_hz} / adcGain {gain}")
        samples = np.frombuffer(raw, dtype=_SAMPLE_DTYPE).reshape(n_samples, len(leads)).astype(np.int64)
        request = AnalysisRequest(
            record_id=str(header["recordId"]),
            fs_hz=fs_hz,
            adc_gain_counts_per_mv=gain,
            baseline_counts=int(header["baseline"]),
            lead_names=leads,
            samples_counts=samples,
        )
        return cls(str(header["clientId"]), request, str(header["digest"]), float(header["enqueuedAt"]))
