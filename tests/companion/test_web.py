"""The companion web UI (``cardio serve``) over HTTP, against a history of real CinC 2017 records."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import wfdb
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from companion.config import CompanionConfig
from companion.recording import Recording
from companion.store import Store
from companion.web.app import create_app, page_token

RESULTS = {
    "N": {"label": "N", "category": "sinus_rhythm", "heart_rate_bpm": 76.0, "model_version": "t1",
          "flags": ["low_heart_rate"],
          "probabilities": {"N": 0.9, "A": 0.05, "O": 0.04, "~": 0.01}, "quality": {"readable": True, "reasons": []}},
    "A": {"label": "A", "category": "atrial_fibrillation", "heart_rate_bpm": 112.0, "model_version": "t1"},
    "O": {"label": "O", "category": "other_rhythm", "heart_rate_bpm": 64.0, "model_version": "t1"},
}


def _seed(db_path: Path, cinc2017_fixture: dict[str, tuple[Path, str]]) -> dict[str, int]:
    """Store three real records with results; returns {label: recording id}."""
    ids = {}
    with Store(db_path) as store:
        for i, (name, (path, label)) in enumerate(sorted(cinc2017_fixture.items())):
            if label not in RESULTS or label in ids:
                continue
            counts = wfdb.rdrecord(str(path), physical=False).d_signal[:, 0]
            rec = Recording(counts, 300.0, 1000.0, 0, complete=True, verified=True,
                            started_at=dt.datetime(2026, 11, 20, 8, i, tzinfo=dt.UTC),
                            device={"name": "cardiolink-sim", "serial": name})
            rid = store.add_recording(rec)
            store.set_local_result(rid, RESULTS[label])
            if label == "N":
                store.set_measurements(rid, {"pr_ms": 152.0, "qrs_ms": 88.0, "qt_ms": 372.0, "qtc_ms": 405.0,
                                             "heart_rate_bpm": 75.0, "findings": ["Normal intervals"]})
                store.set_cloud_result(rid, {"status": "done", "diagnoses": [
                    {"code": "N", "label": "Normal sinus rhythm", "probability": 0.93}], "heartRate": 75.5,
                    "modelVersion": "c1"})
            if label == "A":  # as companion.sync stores a cloud answer
                store.set_cloud_result(rid, {
                    "label": "A", "category": "Atrial fibrillation", "probability": 0.81, "heart_rate_bpm": 110.0,
                    "model_version": "c1", "flags": ["wide QRS complex"],
                    "measurements": {"pr_ms": None, "qrs_ms": 96.0, "qt_ms": 350.0, "qtc_ms": 430.0},
                    "record_id": "x", "response": {"diagnoses": [
                        {"code": "A", "label": "Atrial fibrillation", "probability": 0.81},
                        {"code": "WQRS", "label": "wide QRS complex", "probability": None}]}})
            ids[label] = rid
    return ids


def _tok(client: TestClient, rid: int, **query: str) -> dict[str, str]:
    """Query of a report/export URL with the recording page's token (as the page links it)."""
    return {**query, "t": page_token(client.app, f"recording:{rid}")}


@pytest.fixture
async def client(tmp_path: Path, cinc2017_fixture: dict[str, tuple[Path, str]]) -> AsyncIterator[TestClient]:
    config = CompanionConfig.resolve(data_dir=tmp_path, env={})
    ids = _seed(config.db_path, cinc2017_fixture)
    app = create_app(config, publish_token="secret-token")
    async with TestClient(TestServer(app, host="127.0.0.1")) as tc:
        tc.ids = ids  # type: ignore[attr-defined]
        yield tc


class TestHistory:
    async def test_lists_every_recording_with_result_hr_duration_and_sync(self, client: TestClient) -> None:
        resp = await client.get("/")
        assert resp.status == 200
        text = await resp.text()
        assert text.count("<li class=rec") == 3
        for words in ("Sinus rhythm", "Possible atrial fibrillation", "Other rhythm"):  # the class table's words
            assert words in text
        assert "112 bpm" in text and "76 bpm" in text
        assert re.search(r"2026-11-20 \d\d:0\d [A-Z+\-0-9]+ · (30|\d\d) s", text)  # local time with its zone
        assert "not a diagnosis" in text
        assert 'name=viewport content="width=device-width' in text and "/manifest.webmanifest" in text
        assert "0.9" not in text  # no probabilities in the list

    async def test_filter_by_result(self, client: TestClient) -> None:
        text = await (await client.get("/?result=atrial_fibrillation")).text()
        assert text.count("<li class=rec") == 1
        assert 'data-category="atrial_fibrillation"' in text
        text = await (await client.get("/?result=not_screened")).text()
        assert "No recordings here yet" in text

    async def test_unknown_filter_is_a_clear_400(self, client: TestClient) -> None:
        resp = await client.get("/?result=zzz", headers={"Accept": "text/html"})
        assert resp.status == 400
        assert "unknown result filter" in await resp.text()

    async def test_foreign_host_header_is_refused(self, client: TestClient) -> None:
        resp = await client.get("/", headers={"Host": "evil.example:8080"})
        assert resp.status == 421


class TestRecordingPage:
    async def test_shows_report_results_measurements_downloads(self, client: TestClient) -> None:
        rid = client.ids["N"]  # type: ignore[attr-defined]
        text = await (await client.get(f"/recordings/{rid}")).text()
        assert f'src="/recordings/{rid}/report.svg' in text
        patient, details = text.split("<details", 1)
        assert "Sinus rhythm" in patient and "What to do:" in patient and "not a diagnosis" in patient
        assert "Heart rate below 50 beats per minute" in patient
        assert "0.90" not in patient and "code N" not in patient  # numbers for clinicians only under details
        assert "152 ms" in details and "405 ms" in details and "Normal intervals" in details
        assert "N 0.90" in details and "code N" in details
        for href in ("report.pdf", "export/wfdb", "export/csv"):
            assert f"/recordings/{rid}/{href}" in text

    async def test_cloud_result_as_stored_by_sync(self, client: TestClient) -> None:
        rid = client.ids["A"]  # type: ignore[attr-defined]
        text = await (await client.get(f"/recordings/{rid}")).text()
        assert "Possible atrial fibrillation" in text and "Show this recording to a doctor" in text
        assert "96 ms" in text and "430 ms" in text  # intervals from the cloud when none were measured locally
        assert "<th>Findings</th><td>wide QRS complex</td>" in text

    async def test_unknown_recording_is_404(self, client: TestClient) -> None:
        resp = await client.get("/recordings/999")
        assert resp.status == 404
        assert "no recording with id 999" in await resp.text()

    async def test_report_png_is_an_image_of_the_page(self, client: TestClient) -> None:
        rid = client.ids["A"]  # type: ignore[attr-defined]
        resp = await client.get(f"/recordings/{rid}/report.png", params=_tok(client, rid, dpi="50"))
        assert resp.status == 200 and resp.content_type == "image/png"
        img = Image.open(io.BytesIO(await resp.read()))
        assert img.size == (int(297 / 25.4 * 50), int(210 / 25.4 * 50))

    async def test_report_pdf_is_a_download(self, client: TestClient) -> None:
        rid = client.ids["O"]  # type: ignore[attr-defined]
        resp = await client.get(f"/recordings/{rid}/report.pdf", params=_tok(client, rid))
        assert resp.content_type == "application/pdf"
        assert "attachment" in resp.headers["Content-Disposition"]
        assert (await resp.read()).startswith(b"%PDF")

    async def test_bad_dpi_is_400(self, client: TestClient) -> None:
        rid = client.ids["O"]  # type: ignore[attr-defined]
        assert (await client.get(f"/recordings/{rid}/report.png", params=_tok(client, rid, dpi="5000"))).status == 400
        assert (await client.get(f"/recordings/{rid}/report.png", params=_tok(client, rid, dpi="x"))).status == 400

    async def test_wfdb_download_reads_back_bit_for_bit(self, client: TestClient, tmp_path: Path,
                                                       cinc2017_fixture: dict[str, tuple[Path, str]]) -> None:
        rid = client.ids["A"]  # type: ignore[attr-defined]
        resp = await client.get(f"/recordings/{rid}/export/wfdb", params=_tok(client, rid))
        assert resp.content_type == "application/zip"
        with zipfile.ZipFile(io.BytesIO(await resp.read())) as zf:
            names = zf.namelist()
            zf.extractall(tmp_path / "x")
        hea = next(n for n in names if n.endswith(".hea"))
        back = wfdb.rdrecord(str(tmp_path / "x" / hea[:-4]), physical=False).d_signal[:, 0]
        original = wfdb.rdrecord(str(cinc2017_fixture["A00004"][0]), physical=False).d_signal[:, 0]
        np.testing.assert_array_equal(back, original)

    async def test_csv_download_holds_the_counts(self, client: TestClient) -> None:
        rid = client.ids["N"]  # type: ignore[attr-defined]
        resp = await client.get(f"/recordings/{rid}/export/csv", params=_tok(client, rid))
        with zipfile.ZipFile(io.BytesIO(await resp.read())) as zf:
            csv_name = next(n for n in zf.namelist() if n.endswith(".csv"))
            lines = zf.read(csv_name).decode().split()
        assert len(lines) == 9000 and all(re.fullmatch(r"-?\d+", v) for v in lines[:50])


class TestDelete:
    async def _csrf(self, client: TestClient, rid: int) -> str:
        text = await (await client.get(f"/recordings/{rid}")).text()
        match = re.search(r'name=csrf value="([^"]+)"', text)
        assert match
        return match.group(1)

    async def test_delete_needs_token_and_confirmation(self, client: TestClient) -> None:
        rid = client.ids["O"]  # type: ignore[attr-defined]
        token = await self._csrf(client, rid)
        resp = await client.post(f"/recordings/{rid}/delete", data={"csrf": "forged", "confirm": "yes"})
        assert resp.status == 403
        resp = await client.post(f"/recordings/{rid}/delete", data={"csrf": token})
        assert resp.status == 400
        assert (await client.get(f"/recordings/{rid}")).status == 200
        resp = await client.post(f"/recordings/{rid}/delete", data={"csrf": token, "confirm": "yes"})
        assert resp.status == 200 and "was deleted" in await resp.text()
        assert (await client.get(f"/recordings/{rid}")).status == 404
        assert (await (await client.get("/")).text()).count("<li class=rec") == 2


class TestLive:
    async def test_publisher_messages_reach_a_browser_socket(self, client: TestClient) -> None:
        async with client.ws_connect("/live/publish", headers={"Authorization": "Bearer secret-token"}) as pub:
            await pub.send_json({"type": "start", "fs_hz": 300, "duration_s": 30, "device": "sim"})
            await pub.send_json({"type": "samples", "first_index": 0, "mv": [0.1, 0.2, 0.3]})
            await pub.send_json({"type": "bogus"})
            rejected = await pub.receive_json(timeout=5)
            assert rejected["type"] == "rejected" and "bogus" in rejected["reason"]
            async with client.ws_connect("/live/ws", params={"t": page_token(client.app, "live")}) as browser:
                replay = [await browser.receive_json(timeout=5) for _ in range(2)]
                assert [m["type"] for m in replay] == ["start", "samples"]
                await pub.send_json({"type": "samples", "first_index": 3, "mv": [0.4]})
                await pub.send_json({"type": "done", "recording_id": 4, "result": "Normal"})
                later = [await browser.receive_json(timeout=5) for _ in range(2)]
                assert later == [{"type": "samples", "first_index": 3, "mv": [0.4]},
                                 {"type": "done", "recording_id": 4, "result": "Normal"}]

    async def test_publishing_needs_the_token(self, client: TestClient) -> None:
        resp = await client.get("/live/publish", headers={"Authorization": "Bearer wrong"})
        assert resp.status == 401

    async def test_live_page_without_simulator_has_no_button(self, client: TestClient) -> None:
        text = await (await client.get("/live")).text()
        assert "<canvas id=trace" in text and "Record (simulated)" not in text and "<button" not in text
        resp = await client.post("/live/record", data={"csrf": "x"})
        assert resp.status == 403


def test_app_is_an_aiohttp_application(tmp_path: Path) -> None:
    assert isinstance(create_app(CompanionConfig.resolve(data_dir=tmp_path, env={})), web.Application)


class TestIncompleteRecording:
    async def test_gaps_are_left_blank_and_the_page_says_incomplete(self, tmp_path: Path) -> None:
        from companion.web.present import report_header, report_signal_mv

        counts = (np.sin(np.arange(6000) / 20.0) * 800).astype(np.int32)
        counts[1000:1600] = 0  # never arrived: held as the baseline
        rec = Recording(counts, 300.0, 1000.0, 0, complete=False, gaps=[(1000, 1600)])
        config = CompanionConfig.resolve(data_dir=tmp_path, env={})
        with Store.open(config) as store:
            rid = store.add_recording(rec)
            stored = store.get_recording(rid)
        sig = report_signal_mv(stored)
        assert np.isnan(sig[1000:1600]).all() and np.isfinite(sig[:1000]).all() and np.isfinite(sig[1600:]).all()
        assert any(line.startswith("Incomplete recording") for line in report_header(stored).findings)
        async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as tc:
            assert "Incomplete recording" in await (await tc.get(f"/recordings/{rid}")).text()
            resp = await tc.get(f"/recordings/{rid}/report.png", params=_tok(tc, rid, dpi="40"))
            assert resp.status == 200 and resp.content_type == "image/png"


class TestPatientPages:
    async def _csrf(self, client: TestClient, path: str) -> str:
        match = re.search(r'name=csrf value="([^"]+)"', await (await client.get(path)).text())
        assert match
        return match.group(1)

    async def test_symptoms_and_note_from_the_recording_page(self, client: TestClient) -> None:
        rid = client.ids["A"]  # type: ignore[attr-defined]
        token = await self._csrf(client, f"/recordings/{rid}")
        resp = await client.post(f"/recordings/{rid}/annotate", allow_redirects=False,
                                 data=[("csrf", token), ("symptom", "palpitations"), ("symptom", "dizziness"),
                                       ("note", "<b>after coffee</b>")])
        assert resp.status == 303 and resp.headers["Location"] == f"/recordings/{rid}"
        text = await (await client.get(f"/recordings/{rid}")).text()
        assert 'value="palpitations" checked' in text and 'value="dizziness" checked' in text
        assert "&lt;b&gt;after coffee&lt;/b&gt;" in text and "<b>after coffee" not in text
        listed = await (await client.get("/?symptom=dizziness")).text()
        assert listed.count("<li class=rec") == 1 and "Dizziness" in listed
        bad = await client.post(f"/recordings/{rid}/annotate", data=[("csrf", token), ("symptom", "hiccups")])
        assert bad.status == 400
        forged = await client.post(f"/recordings/{rid}/annotate", data=[("csrf", "x"), ("symptom", "fatigue")])
        assert forged.status == 403
        pdf = await client.get(f"/recordings/{rid}/report.svg", params=_tok(client, rid))
        assert "Palpitations" in await pdf.text()  # symptoms reach the report

    async def test_profile_is_saved_and_printed_on_the_report(self, client: TestClient) -> None:
        token = await self._csrf(client, "/profile")
        resp = await client.post("/profile", allow_redirects=False,
                                 data={"csrf": token, "name": "Ada L", "sex": "F", "birth_date": "1960-05-01"})
        assert resp.status == 303
        text = await (await client.get("/profile?saved=1")).text()
        assert 'value="Ada L"' in text and 'value="F" selected' in text and 'value="1960-05-01"' in text
        rid = client.ids["N"]  # type: ignore[attr-defined]
        svg = await (await client.get(f"/recordings/{rid}/report.svg", params=_tok(client, rid))).text()
        assert "Ada L" in svg
        bad = await client.post("/profile", data={"csrf": token, "sex": "X"})
        assert bad.status == 400

    async def test_trends_page(self, client: TestClient) -> None:
        text = await (await client.get("/trends")).text()
        assert "<svg id=hr-chart" in text and text.count("<circle") == 3
        assert "Possible atrial fibrillation" in text and "verdict-counts" in text
        assert f'href="/recordings/{client.ids["A"]}"' in text  # type: ignore[attr-defined]

    async def test_manifest_and_verdict_colours(self, client: TestClient) -> None:
        resp = await client.get("/manifest.webmanifest")
        doc = await resp.json(content_type=None)
        assert doc["display"] == "standalone" and doc["start_url"] == "/"
        for icon in doc["icons"]:
            assert (await client.get(icon["src"])).status == 200
        css = await (await client.get("/verdicts.css")).text()
        assert ".dot.v-atrial_fibrillation{background:#" in css


def test_contact_loss_is_marked_on_the_report_and_in_words(tmp_path: Path) -> None:
    """Issue 14: lost contact is marked (report markers, header line, details), never spliced silently."""
    from companion.recording import ContactEvent
    from companion.web.present import contact_events, report_header

    counts = (np.sin(np.arange(9000) / 20.0) * 800).astype(np.int32)
    rec = Recording(counts, 300.0, 1000.0, 0, complete=True,
                    contact_events=[ContactEvent(0, "contact"), ContactEvent(3600, "lost")])
    with Store.open(CompanionConfig.resolve(data_dir=tmp_path, env={})) as store:
        stored = store.get_recording(store.add_recording(rec))
    # a recording stored before "regained" existed: its lost-at-the-splice gains the regained
    assert contact_events(stored) == [(12.0, "contact lost"), (12.0, "contact regained")]
    rec.contact_events = [ContactEvent(0, "contact"), ContactEvent(3600, "lost"), ContactEvent(3600, "regained"),
                          ContactEvent(9000, "lost")]
    with Store.open(CompanionConfig.resolve(data_dir=tmp_path / "b", env={})) as store:
        stored = store.get_recording(store.add_recording(rec))
    assert [e.kind for e in stored.recording.contact_events] == ["contact", "lost", "regained", "lost"]
    header = report_header(stored)
    assert header.markers == ((12.0, "contact lost"), (12.0, "contact regained"), (30.0, "contact lost"))
    assert "contact lost at 12.0 s; contact regained at 12.0 s; contact lost at 30.0 s" in header.findings


def test_live_listener_marks_contact_loss_on_the_live_trace() -> None:
    """Issue 14: a frame flagged "contact lost before it" becomes a ``contact`` live message once."""
    from companion.web.live import validate_message
    from companion.web.live_listener import LiveListener

    class Assembler:  # the two members LiveListener reads
        def __init__(self) -> None:
            self.n, self.lost = 0, []

        def contiguous_samples(self) -> np.ndarray:
            return np.zeros(self.n, np.int32)

        def lead_off_samples(self) -> list[int]:
            return list(self.lost)

    sent: list[dict] = []
    listener = LiveListener(sent.append)
    listener.started(1, 300.0, 9000, 1000.0, 0)
    asm = Assembler()
    asm.n = 600
    listener.progress(asm, 9000)  # type: ignore[arg-type]
    asm.n, asm.lost = 1200, [900]
    listener.progress(asm, 9000)  # type: ignore[arg-type]
    listener.progress(asm, 9000)  # type: ignore[arg-type]
    contacts = [m for m in sent if m["type"] == "contact"]
    assert contacts == [{"type": "contact", "sample_index": 900, "state": "lost"},
                        {"type": "contact", "sample_index": 900, "state": "regained"}]
    assert all(validate_message(m) == m for m in contacts)


def test_terminal_progress_clears_connection_lost_once_samples_flow() -> None:
    """Issue 14: no stale "Connection lost" label after the link came back."""
    import io as _io

    from rich.console import Console

    from companion.link_options import PROMPT_RECONNECTING
    from companion.record_ui import RichRecordUI

    class Assembler:
        contiguous_count = 0

        def recent_samples(self, n: int) -> np.ndarray:
            return np.zeros(0, np.int32)

    ui = RichRecordUI(Console(file=_io.StringIO(), width=100))
    ui.started(1, 300.0, 9000, 1000.0, 0)
    asm = Assembler()
    asm.contiguous_count = 900
    ui.progress(asm, 9000)  # type: ignore[arg-type]
    ui.prompt(PROMPT_RECONNECTING)
    ui.progress(asm, 9000)  # type: ignore[arg-type]  # nothing new yet: still reconnecting
    assert ui._description == PROMPT_RECONNECTING
    asm.contiguous_count = 1200
    ui.progress(asm, 9000)  # type: ignore[arg-type]
    assert ui._description != PROMPT_RECONNECTING
    ui.close()
