"""Store-and-forward: send the history's outbox to the cloud analysis service.

Every recording enters the store's outbox when it is saved. :func:`sync_pending`
sends what is due, oldest first, each under the recording's ``uuid`` as ``recordId``
(the cloud analyses a record once and returns the stored answer to repeats, so a
process killed mid-upload simply sends again). When the cloud is unreachable the item
stays queued with a later ``next_try_at`` and the rest wait for the next sync. The
cloud answer is stored beside the local result (``cloud_results``).

Where the cloud is (:func:`resolve_cloud`): ``--cloud-url``/``--token`` flags, else
``CARDIOLINK_CLOUD_URL``/``CARDIOLINK_CLOUD_TOKEN``, else the JSON file
``<data dir>/cloud.json`` (``{"url": ..., "token": ...}``, or ``CARDIOLINK_CLOUD_CONFIG``).
With none of them, the ``cardio`` command (:mod:`cardio.local_cloud`) runs the analysis
service in its own process on loopback with a fresh token, so a new user sees the whole
flow; the companion itself never imports :mod:`cloud`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud_client import AnalysisRequest, AnalysisResult, AuthError, CloudClient, CloudUnavailable, RequestRejected
from cloud_client.errors import CloudClientError
from companion.errors import CompanionError, CorruptRecordError
from companion.store import Store

log = logging.getLogger(__name__)

ENV_CLOUD_URL = "CARDIOLINK_CLOUD_URL"
ENV_CLOUD_TOKEN = "CARDIOLINK_CLOUD_TOKEN"
ENV_CLOUD_CONFIG = "CARDIOLINK_CLOUD_CONFIG"
CONFIG_FILENAME = "cloud.json"
#: outbox retry delays: first retry after this, doubling up to the maximum
RETRY_FIRST_S = 30.0
RETRY_MAX_S = 3600.0


class SyncError(CompanionError):
    """Syncing with the cloud failed as a whole (not one item)."""


class CloudConfigError(SyncError):
    """The cloud settings are incomplete or unreadable (caller's fault)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"cloud settings from {source}: {reason}")
        self.source = source
        self.reason = reason


class CloudAuthError(SyncError):
    """The cloud refused the token (401): fix the token, nothing was lost."""


@dataclass(frozen=True)
class CloudSettings:
    """Where to send recordings. The token is never printed or logged."""

    url: str
    token: str = field(repr=False)
    source: str = "flags"


def resolve_cloud(
    *,
    url: str | None = None,
    token: str | None = None,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> CloudSettings | None:
    """Find the cloud settings: flags, then environment, then the config file.

    Returns
    -------
    CloudSettings or None
        None when no cloud is configured anywhere (``cardio`` then runs one in-process).

    Raises
    ------
    CloudConfigError
        A URL without a token (or the reverse), or an unreadable config file.
    """
    env = os.environ if env is None else env
    for source, u, t in (("flags", url, token), ("environment", env.get(ENV_CLOUD_URL), env.get(ENV_CLOUD_TOKEN))):
        if u or t:
            return _settings(source, u or _file_value(env, data_dir, "url"), t or _file_value(env, data_dir, "token"))
    path = _config_path(env, data_dir)
    if path is not None and path.is_file():
        return _settings(str(path), _file_value(env, data_dir, "url"), _file_value(env, data_dir, "token"))
    return None


def _config_path(env: Mapping[str, str], data_dir: Path | None) -> Path | None:
    if env.get(ENV_CLOUD_CONFIG):
        return Path(env[ENV_CLOUD_CONFIG])
    return None if data_dir is None else Path(data_dir) / CONFIG_FILENAME


def _file_value(env: Mapping[str, str], data_dir: Path | None, key: str) -> str | None:
    path = _config_path(env, data_dir)
    if path is None or not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CloudConfigError(str(path), f"not a JSON file: {exc}") from None
    if not isinstance(document, dict) or set(document) - {"url", "token"}:
        raise CloudConfigError(str(path), 'expected {"url": ..., "token": ...} and nothing else')
    value = document.get(key)
    return None if value is None else str(value)


def _settings(source: str, url: str | None, token: str | None) -> CloudSettings:
    if not url or not token:
        missing = "URL" if not url else "token"
        raise CloudConfigError(source, f"cloud {missing} missing (give both --cloud-url and --token)")
    if not url.startswith(("http://", "https://")):
        raise CloudConfigError(source, f"URL must start with http:// or https:// (got {url!r})")
    return CloudSettings(url=url.rstrip("/"), token=token, source=source)


@dataclass
class SyncReport:
    """What one sync did."""

    sent: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    offline_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "rejected": self.rejected,
            "deferred": self.deferred,
            "offline": self.offline_reason,
        }


def retry_delay_s(attempts: int) -> float:
    """Outbox delay after *attempts* failed uploads (30 s, 60 s, ... up to 1 h)."""
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, attempts - 1))


def cloud_result_record(result: AnalysisResult) -> dict[str, Any]:
    """What the history stores as the cloud result: summary keys plus the full answer.

    The verdict is the answer's ``rhythm`` (decided by the same rule as the local result).
    An unreadable answer is stored as ``~``/``unreadable`` with its reasons and without heart
    rate or intervals, whatever else the answer holds.
    """
    from ecg.classes import UNREADABLE, by_code

    rhythm = result.rhythm
    top = result.top
    if rhythm is None and top is not None:  # a server that predates ``rhythm``: its best class
        entry = by_code(top.code) if top.code in {"N", "A", "O", "~"} else UNREADABLE
        code, category, probability, words = top.code, entry.category, top.probability, entry.patient_label
    elif rhythm is not None:
        code, category, probability, words = rhythm.code, rhythm.category, rhythm.probability, rhythm.label
    else:
        code = category = probability = words = None
    unreadable = category == UNREADABLE.category or not result.quality.readable
    if unreadable:
        code, category, words = UNREADABLE.code, UNREADABLE.category, UNREADABLE.patient_label
    m = result.measurements
    return {
        "label": code,
        "category": category,
        "description": words,
        "probability": probability,
        "probabilities": {d.code: d.probability for d in result.diagnoses if d.probability is not None},
        "heart_rate_bpm": None if unreadable else result.heart_rate_bpm,
        "model_version": result.model_version,
        "quality": {"readable": not unreadable, "reasons": list(result.quality.reasons)},
        "flags": [] if unreadable else [d.label for d in result.diagnoses if d.probability is None],
        "measurements": {
            "pr_ms": None if unreadable else m.pr_ms,
            "qrs_ms": None if unreadable else m.qrs_ms,
            "qt_ms": None if unreadable else m.qt_ms,
            "qtc_ms": None if unreadable else m.qtc_ms,
        },
        "record_id": result.record_id,
        "response": result.raw,
    }


def request_for(store: Store, recording_id: int) -> AnalysisRequest:
    """The API request of a stored recording (its ``uuid`` as ``recordId``)."""
    stored = store.get_recording(recording_id)
    rec = stored.recording
    return AnalysisRequest(
        sample_rate_hz=rec.sample_rate_hz,
        adc_gain_counts_per_mv=rec.adc_gain_counts_per_mv,
        leads={"I": rec.samples.tolist()},
        baseline_counts=rec.baseline_counts,
        record_id=stored.uuid,
    )


async def sync_pending(
    store: Store,
    client: CloudClient,
    *,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    limit: int = 50,
    on_sent: Callable[[int, dict[str, Any]], None] | None = None,
) -> SyncReport:
    """Send the due outbox items, oldest first.

    Parameters
    ----------
    store : Store
        The history (outbox, recordings, results).
    client : CloudClient
        Configured client (its own retries cover short hiccups).
    now : callable
        Clock (UTC, aware).
    limit : int
        Most items sent in this call.
    on_sent : callable, optional
        Called with ``(recording_id, stored cloud result)`` after each success.

    Returns
    -------
    SyncReport
        Ids sent, rejected by the cloud (given up: retrying cannot help), and left
        for later (offline).

    Raises
    ------
    CloudAuthError
        The token was refused; the item stays queued.
    """
    report = SyncReport()
    due = store.due_outbox(now=now(), limit=limit)
    for index, item in enumerate(due):
        rid = item.recording_id
        try:
            request = request_for(store, rid)
        except CorruptRecordError as exc:  # one damaged recording never blocks the others
            store.mark_outbox_failed(rid, str(exc), next_try_at=None, give_up=True)
            report.rejected.append(rid)
            log.warning("recording %d not sent: %s", rid, exc)
            continue
        store.mark_outbox_sending(rid)
        try:
            result = await client.analyse(request)
        except (CloudUnavailable, CloudClientError) as exc:
            if isinstance(exc, AuthError):
                store.mark_outbox_failed(rid, str(exc), next_try_at=now())
                raise CloudAuthError(f"the cloud refused the token: {exc}") from None
            if isinstance(exc, RequestRejected):
                store.mark_outbox_failed(rid, str(exc), next_try_at=None, give_up=True)
                report.rejected.append(rid)
                log.warning("recording %d rejected by the cloud: %s", rid, exc)
                continue
            later = now() + dt.timedelta(seconds=retry_delay_s(item.attempts + 1))
            store.mark_outbox_failed(rid, str(exc), next_try_at=later)
            report.offline_reason = str(exc)
            report.deferred.extend(i.recording_id for i in due[index:])
            return report
        record = cloud_result_record(result)
        store.set_cloud_result(rid, record)
        store.mark_outbox_done(rid)
        report.sent.append(rid)
        if on_sent is not None:
            on_sent(rid, record)
    return report
