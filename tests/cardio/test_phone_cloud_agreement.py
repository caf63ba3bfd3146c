"""The phone (``cardio screen --json``) and the cloud API give the same verdict for the same samples.

The cloud runs for real (``cloud.app`` with the real pipeline and thread workers) on a loopback
port in a background thread; requests go over HTTP. For each signal the test compares the
phone's ``label``/``category``/``probabilities`` with the cloud's ``rhythm`` and the class
probabilities in its ``diagnoses`` (to 0.002), on the committed fixtures and on generated
signals; unreadable signals must come back ``~``/``unreadable`` without heart rate or intervals
on both paths.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardio.cli.main import main
from cloud.app import create_app
from cloud.config import CloudConfig
from cloud.storage import TokenStore, open_db

TOLERANCE = 0.002
CLASS_CODES = ("N", "A", "O", "~")
_INTERVALS = ("prMs", "qrsMs", "qtMs", "qtcMs")


class _Cloud:
    """The analysis service on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, data_dir: Path) -> None:
        conn = open_db(data_dir)
        try:
            self.token = TokenStore(conn).create("agreement-test")
        finally:
            conn.close()
        self._config = CloudConfig(data_dir=data_dir, workers=1, executor="thread")
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = ""

    def _run(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(create_app(self._config))
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def __enter__(self) -> _Cloud:
        self._thread.start()
        assert self._ready.wait(30), "cloud did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def post(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + "/v1/analyses", data=json.dumps(payload).encode(), method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Cloud]:
    with _Cloud(tmp_path_factory.mktemp("cloud")) as running:
        yield running


def assert_same_verdict(phone: dict[str, Any], answer: dict[str, Any]) -> None:
    """The phone's screening line and the cloud's answer agree (code, category, probabilities)."""
    rhythm = answer["rhythm"]
    assert (rhythm["code"], rhythm["category"]) == (phone["label"], phone["category"]), (phone, answer)
    assert rhythm == phone["rhythm"] or abs((rhythm["probability"] or 0) - (phone["rhythm"]["probability"] or 0)) <= TOLERANCE
    cloud_probs = {d["code"]: d["probability"] for d in answer["diagnoses"] if d["probability"] is not None}
    assert set(cloud_probs) == set(phone["probabilities"])
    for code, p in phone["probabilities"].items():
        assert abs(cloud_probs[code] - p) <= TOLERANCE, (code, p, cloud_probs[code])
    if phone["category"] == "unreadable":
        assert_unreadable(phone, answer)


def assert_unreadable(phone: dict[str, Any], answer: dict[str, Any]) -> None:
    """No rhythm, heart rate or interval from an unreadable signal, on either path."""
    assert (phone["label"], phone["category"], phone["heart_rate_bpm"]) == ("~", "unreadable", None)
    assert phone["quality"]["readable"] is False and phone["quality"]["reasons"]
    assert phone["quality"]["heart_rate_bpm"] is None
    assert answer["status"] == "completed"
    assert (answer["rhythm"]["code"], answer["rhythm"]["category"]) == ("~", "unreadable")
    assert answer["heartRate"] is None
    assert all(answer["measurements"][k] is None for k in _INTERVALS)
    assert answer["quality"]["readable"] is False and answer["quality"]["reasons"]
    assert all(d["code"] in CLASS_CODES for d in answer["diagnoses"])  # no findings


def _payload(counts: np.ndarray, fs_hz: float, gain: float, baseline: int, record_id: str) -> dict[str, Any]:
    return {"sampleRate": fs_hz, "adcGain": gain, "baseline": int(baseline), "recordId": record_id,
            "dataI": [int(v) for v in counts]}


def _phone(capsys: pytest.CaptureFixture[str], path: Path, fs_hz: float, gain: float, baseline: int) -> dict[str, Any]:
    """``cardio screen PATH --fs --adc-gain --baseline --json``: the phone's answer for a CSV of counts."""
    capsys.readouterr()
    assert main(["screen", str(path), "--fs", repr(fs_hz), "--adc-gain", repr(gain), "--baseline", str(baseline),
                 "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def _fixture_records(fixtures_dir: Path) -> list[Path]:
    return sorted((fixtures_dir / "cinc2017").glob("*.hea")) + sorted((fixtures_dir / "ludb").glob("*.hea"))


class TestCommittedFixtures:
    def test_phone_and_cloud_agree_on_every_fixture(self, cloud: _Cloud, fixtures_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
        paths = _fixture_records(fixtures_dir)
        assert len(paths) >= 8
        assert main(["screen", *map(str, paths), "--json"]) == 0
        phones = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        categories = set()
        for path, phone in zip(paths, phones):
            header = wfdb.rdheader(str(path.with_suffix("")))
            counts = wfdb.rdrecord(str(path.with_suffix("")), physical=False, channels=[0]).d_signal[:, 0]
            status, answer = cloud.post(_payload(counts, header.fs, header.adc_gain[0], header.baseline[0],
                                                 f"fixture-{path.parent.name}-{path.stem}"))
            assert status == 200, answer
            assert_same_verdict(phone, answer)
            categories.add(phone["category"])
        assert {"sinus_rhythm", "atrial_fibrillation"} <= categories  # the comparison covers real verdicts


def _synthetic_mv(kind: str, hr_bpm: float, jitter: float, noise_mv: float, amp_mv: float, fs_hz: float,
                  duration_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * fs_hz)) / fs_hz
    if kind == "flat":
        return np.zeros(t.size) + rng.normal(0, 0.002, t.size)
    if kind == "square":
        return amp_mv * np.sign(np.sin(2 * np.pi * hr_bpm / 60.0 * t)) + rng.normal(0, noise_mv / 4, t.size)
    x = np.zeros(t.size)
    beat_t = 0.2 + rng.uniform(0, 0.5)
    while beat_t < duration_s:
        for offset_s, rel, width_s in ((-0.16, 0.1, 0.025), (-0.02, -0.1, 0.008), (0.0, 1.0, 0.011),
                                       (0.03, -0.2, 0.01), (0.26, 0.25, 0.045)):
            x += rel * amp_mv * np.exp(-0.5 * ((t - beat_t - offset_s) / width_s) ** 2)
        beat_t += 60.0 / hr_bpm * (1.0 + jitter * rng.uniform(-1, 1))
    x += noise_mv * rng.normal(0, 1, t.size) + 0.2 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6))
    if kind == "lead_off":
        x[int(0.3 * t.size): int(0.7 * t.size)] = 0.0
    if kind == "clipped":
        x = np.clip(x, -0.25 * amp_mv, 0.25 * amp_mv)
    return x


_SIGNALS = st.fixed_dictionaries({
    "kind": st.sampled_from(["ecg", "ecg", "ecg", "flat", "square", "lead_off", "clipped"]),
    "hr_bpm": st.floats(45.0, 170.0),
    "jitter": st.sampled_from([0.0, 0.05, 0.3]),
    "noise_mv": st.sampled_from([0.005, 0.03, 0.15]),
    "amp_mv": st.floats(0.4, 2.5),
    "fs_hz": st.sampled_from([125.0, 250.0, 300.0, 360.0, 500.0]),
    "duration_s": st.floats(6.0, 30.0),
    "seed": st.integers(0, 2**31 - 1),
    "gain": st.sampled_from([200.0, 1000.0]),
    "baseline": st.integers(-2048, 2048),
})


class TestGeneratedSignals:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(signal=_SIGNALS)
    def test_phone_and_cloud_agree(self, cloud: _Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   signal: dict[str, Any]) -> None:
        mv = _synthetic_mv(signal["kind"], signal["hr_bpm"], signal["jitter"], signal["noise_mv"],
                           signal["amp_mv"], signal["fs_hz"], signal["duration_s"], signal["seed"])
        counts = np.rint(mv * signal["gain"]).astype(np.int64) + signal["baseline"]
        path = tmp_path / f"gen-{signal['seed']}.csv"
        path.write_text("counts\n" + "\n".join(str(int(v)) for v in counts) + "\n")
        phone = _phone(capsys, path, signal["fs_hz"], signal["gain"], signal["baseline"])
        status, answer = cloud.post(_payload(counts, signal["fs_hz"], signal["gain"], signal["baseline"],
                                             f"gen-{uuid.uuid4().hex}"))  # recordId is an idempotency key
        assert status == 200, answer
        assert_same_verdict(phone, answer)
        if signal["kind"] != "ecg":
            assert_unreadable(phone, answer)


class TestUnreadableInTheCloud:
    """Bad input through the HTTP API: an answer without rhythm, heart rate or intervals, or a clear error."""

    @pytest.mark.parametrize("kind", ["flat", "square", "lead_off", "clipped"])
    def test_unreadable_kinds(self, cloud: _Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              kind: str) -> None:
        mv = _synthetic_mv(kind, 72.0, 0.0, 0.03, 1.2, 300.0, 30.0, seed=11)
        counts = np.rint(mv * 1000.0).astype(np.int64)
        path = tmp_path / f"{kind}.csv"
        path.write_text("counts\n" + "\n".join(str(int(v)) for v in counts) + "\n")
        phone = _phone(capsys, path, 300.0, 1000.0, 0)
        status, answer = cloud.post(_payload(counts, 300.0, 1000.0, 0, f"bad-{kind}"))
        assert status == 200, answer
        assert_unreadable(phone, answer)
        assert_same_verdict(phone, answer)

    def test_exactly_flat_is_an_unreadable_answer(self, cloud: _Cloud) -> None:
        status, answer = cloud.post({"sampleRate": 300, "adcGain": 1000, "dataI": [7] * 3000, "recordId": "flat7"})
        assert status == 200, answer
        assert answer["rhythm"] == {"code": "~", "category": "unreadable", "probability": None,
                                    "label": "Unreadable — try again"}
        assert answer["heartRate"] is None and "flat" in answer["quality"]["reasons"]

    def test_nan_is_refused_clearly(self, cloud: _Cloud) -> None:
        request = urllib.request.Request(
            cloud.url + "/v1/analyses", data=b'{"sampleRate": 300, "adcGain": 1000, "dataI": [1, NaN, 2]}',
            method="POST", headers={"Authorization": f"Bearer {cloud.token}", "Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=30)
        assert info.value.code == 400 and "malformed-json" in json.loads(info.value.read())["type"]

    def test_too_short_is_refused_clearly(self, cloud: _Cloud) -> None:
        status, answer = cloud.post({"sampleRate": 300, "adcGain": 1000, "dataI": list(range(900))})
        assert status == 422 and answer["status"] == 422 and "5-600 s" in json.dumps(answer)
