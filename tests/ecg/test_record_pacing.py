"""Record-level pacing of a multi-lead recording (docs/measurements.md, "Pacing in a multi-lead
recording"): a lead's spikes make the recording paced only when a lead of another electrode
source shows them at the same instant."""

from __future__ import annotations

import numpy as np
import pytest

from ecg.delineate import measure_leads
from ecg.delineation.lead import MISSING
from ecg.delineation.record_pacing import lead_source, record_paced
from ecg.delineation.summary import lead_pacing, pacing_many, spike_beats_many
from .synthetic_ecg import beat_train

FS = 500.0
KINDS = "N" * 9


def _leads(names: tuple[str, ...], spiked: dict[str, float]) -> np.ndarray:
    """Normal beats in every lead; a 2-ms, 3-mV spike ``lag`` s + 40 ms before each R peak in
    the leads named in ``spiked`` (name → extra lag)."""
    x, r = beat_train(KINDS, 0.9, FS)
    cols = []
    for k, name in enumerate(names):
        col = x * (1.0 - 0.1 * k)
        if name in spiked:
            for t in r / FS - 0.040 - spiked[name]:
                a = int(round(t * FS))
                col[a : a + 2] += 3.0
        cols.append(col)
    return np.stack(cols, axis=1)


NAMES = ("i", "ii", "iii", "avf", "v1", "v2", "v4")


def _one_lead_would_say_paced(x: np.ndarray, names: tuple[str, ...], lead: str) -> bool:
    m = measure_leads(x, FS, names)
    on = np.array([b.qrs_on if b.qrs_on is not None else MISSING for b in m.leads[names.index(lead)].beats])
    return pacing_many(x[:, [names.index(lead)]], FS, [on])[0][0]


def test_spikes_in_one_precordial_lead_only_are_not_pacing() -> None:
    x = _leads(NAMES, {"v4": 0.0})
    assert _one_lead_would_say_paced(x, NAMES, "v4")  # the lead rule alone fires
    m = measure_leads(x, FS, NAMES)
    assert not m.paced and not any(lead.paced for lead in m.leads)
    assert m.qrs_ms is not None and "pacing" not in m.reasons.get("qrs_ms", "")


def test_spikes_in_limb_leads_only_are_one_source() -> None:
    m = measure_leads(_leads(NAMES, {"iii": 0.0, "avf": 0.0}), FS, NAMES)
    assert not m.paced and m.qrs_ms is not None


def test_coincident_spikes_in_two_sources_are_pacing() -> None:
    m = measure_leads(_leads(NAMES, {"ii": 0.0, "v2": 0.0}), FS, NAMES)
    assert m.paced and m.qrs_ms is None and "pacing" in m.reasons["qrs_ms"]
    assert all(b.qrs_on is None for b in m.beats)


def test_spikes_at_other_instants_do_not_confirm_each_other() -> None:
    m = measure_leads(_leads(NAMES, {"v1": 0.0, "v4": 0.020}), FS, NAMES)  # 20 ms apart: two events
    assert not m.paced
    m2 = measure_leads(_leads(NAMES, {"v1": 0.0, "v4": 0.004}), FS, NAMES)  # 4 ms: one event
    assert m2.paced


def test_one_source_keeps_the_lead_rule() -> None:
    names = ("i", "ii", "iii")
    assert measure_leads(_leads(names, {"ii": 0.0}), FS, names).paced


@pytest.mark.parametrize("name,source", [("aVR", "limb"), ("I", "limb"), ("V5", "v5"), ("MLII", "mlii")])
def test_lead_sources(name: str, source: str) -> None:
    assert lead_source(name) == source


def test_spike_samples_and_the_lead_rule_agree() -> None:
    x = _leads(("v1", "v2"), {"v1": 0.0})
    _, r = beat_train(KINDS, 0.9, FS)
    on = [r - 20, r - 20]
    sb = spike_beats_many(x, FS, on)
    beats, at = sb[0]  # type: ignore[misc]
    assert beats.all() and np.all(np.abs(at - (r - 20)) <= 1)  # the spike: 40 ms = 20 samples before R
    assert sb[1] is not None and not sb[1][0].any() and (sb[1][1] == MISSING).all()
    assert [lead_pacing(s, o)[0] for s, o in zip(sb, on)] == [p for p, _ in pacing_many(x, FS, on)] == [True, False]
    assert not record_paced(("v1", "v2"), on, sb, [lead_pacing(s, o) for s, o in zip(sb, on)], FS)
