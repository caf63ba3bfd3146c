"""The cloud's web page for people: form, CSV parsing, examples, clear errors (cloud/webpage.py)."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from cloud.app import create_app
from cloud.config import CloudConfig
from cloud.webpage import EXAMPLES_DIR, FormError, load_examples, payload_from_csv


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    config = CloudConfig(data_dir=tmp_path, workers=1, executor="thread", timeout_s=60.0)
    async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as tc:
        yield tc


def _report_image(html: str) -> Image.Image:
    match = re.search(r'id=report alt="ECG report" src="data:image/png;base64,([^"]+)"', html)
    assert match, "no report image on the page"
    return Image.open(io.BytesIO(base64.b64decode(match.group(1))))


class TestPayload:
    def test_single_column_of_counts_becomes_lead_i(self) -> None:
        payload, record = payload_from_csv("10\n-20\n30\n" * 1000, 300.0, 1000.0, 5)
        assert payload["sampleRate"] == 300.0 and payload["baseline"] == 5
        assert payload["dataI"][:3] == [10, -20, 30]
        assert record.signals_mv[0, 0] == pytest.approx(0.005)

    def test_lead_header_maps_to_api_fields(self) -> None:
        text = "I,ii,AVR,v1\n" + "1,2,3,4\n" * 1500
        payload, _ = payload_from_csv(text, 500.0, 1000.0, 0)
        assert [k for k in payload if k.startswith("data")] == ["dataI", "dataII", "dataAVR", "dataV1"]
        assert payload["dataAVR"][0] == 3

    def test_unknown_lead_is_named(self) -> None:
        with pytest.raises(FormError, match="unknown lead 'X7'"):
            payload_from_csv("I,X7\n" + "1,2\n" * 1500, 500.0, 1000.0, 0)

    def test_malformed_csv_names_the_line(self) -> None:
        with pytest.raises(FormError, match="line 3"):
            payload_from_csv("1\n2\nabc\n4\n", 300.0, 1000.0, 0)

    def test_examples_are_real_packaged_records(self) -> None:
        examples = load_examples()
        assert len(examples) >= 4
        assert {e["dataset"] for e in examples.values()} == {"cinc2017", "ludb"}
        assert (EXAMPLES_DIR / "README.md").read_text().count("ODC-By") >= 2


class TestPage:
    async def test_form_has_the_three_steps_and_examples(self, client: TestClient) -> None:
        html = await (await client.get("/")).text()
        for needle in ("name=sampleRate", "name=adcGain", "name=baseline", "type=file", "<textarea", "Analyse",
                       "cinc2017_A00001_normal"):
            assert needle in html

    async def test_pasted_csv_gives_a_result_and_a_report(self, client: TestClient) -> None:
        text = (EXAMPLES_DIR / "cinc2017_A00001_normal.csv").read_text()
        resp = await client.post("/analyse", data={"sampleRate": "300", "adcGain": "1000", "baseline": "0",
                                                   "csvtext": text})
        html = await resp.text()
        assert resp.status == 200, html[-800:]
        assert "id=diagnoses" in html and "Heart rate" in html
        assert _report_image(html).size[0] > 1000
        pdf = re.search(r'id=pdf download="cardiolink-report.pdf" href="data:application/pdf;base64,([^"]+)"', html)
        assert pdf and base64.b64decode(pdf.group(1)).startswith(b"%PDF")

    async def test_uploaded_12_lead_file_draws_the_12_lead_report(self, client: TestClient) -> None:
        form = aiohttp.FormData()
        for key, value in (("sampleRate", "500"), ("adcGain", "1000"), ("baseline", "0"), ("csvtext", "")):
            form.add_field(key, value)
        form.add_field("csvfile", (EXAMPLES_DIR / "ludb_2_12lead.csv").read_bytes(), filename="ludb2.csv",
                       content_type="text/csv")
        resp = await client.post("/analyse", data=form)
        html = await resp.text()
        assert resp.status == 200, html[-800:]
        assert _report_image(html).size == (int(297 / 25.4 * 110), int(210 / 25.4 * 110))

    async def test_example_choice_uses_the_examples_parameters(self, client: TestClient) -> None:
        resp = await client.post("/analyse", data={"sampleRate": "1", "adcGain": "1", "baseline": "0",
                                                   "example": "cinc2017_A00004_af"})
        assert resp.status == 200
        assert "id=report" in await resp.text()

    @pytest.mark.parametrize(("data", "message"), [
        ({"sampleRate": "300", "adcGain": "1000", "baseline": "0", "csvtext": "1\n2\nhello\n"}, "line 3"),
        ({"sampleRate": "abc", "adcGain": "1000", "baseline": "0", "csvtext": "1\n2\n"}, "Sampling frequency must be"),
        ({"sampleRate": "300", "adcGain": "0", "baseline": "0", "csvtext": "1\n2\n"}, "ADC gain must be greater"),
        ({"sampleRate": "300", "adcGain": "1000", "baseline": "0"}, "upload a CSV file, paste CSV text"),
        ({"sampleRate": "300", "adcGain": "1000", "baseline": "0", "csvtext": "1\n2\n3\n"}, "The service refused"),
    ])
    async def test_bad_input_gets_a_clear_message_on_the_page(self, client: TestClient, data: dict[str, str],
                                                              message: str) -> None:
        resp = await client.post("/analyse", data=data)
        html = await resp.text()
        assert 400 <= resp.status < 500
        assert resp.content_type == "text/html"
        error = re.search(r"<p class=error id=error role=alert>([^<]*)</p>", html)
        assert error and message in error.group(1), html[-600:]
        assert "name=sampleRate" in html  # the form is still there to correct it

    async def test_the_page_is_rate_limited_per_address(self, client: TestClient) -> None:
        statuses = []
        for _ in range(12):
            resp = await client.post("/analyse", data={"sampleRate": "300", "adcGain": "1000", "baseline": "0"})
            statuses.append(resp.status)
        assert statuses[:10] == [400] * 10
        assert statuses[-1] == 429
        assert "Retry-After" in resp.headers

    async def test_anonymous_analyses_are_not_kept(self, client: TestClient, tmp_path: Path) -> None:
        """Each form is a new recordId nobody can ask for again: its answer used to stay in
        the store for good (a stranger could fill the disk); now it is deleted once shown,
        and leftovers (a form that gave up waiting) once older than twice timeout_s."""
        from cloud.stores.sqlite import open_db

        text = (EXAMPLES_DIR / "cinc2017_A00001_normal.csv").read_text()
        form = {"sampleRate": "300", "adcGain": "1000", "baseline": "0", "csvtext": text}
        for _ in range(3):
            resp = await client.post("/analyse", data=form)
            assert resp.status == 200 and "id=diagnoses" in await resp.text()
        conn = open_db(tmp_path)
        try:
            assert conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0  # was 3
            conn.execute("INSERT INTO results VALUES ('webpage-form', 'gave-up', 'd', 'completed', 200, '{}', 0.0)")
            conn.execute("INSERT INTO results VALUES ('c-token', 'kept', 'd', 'completed', 200, '{}', 0.0)")
            conn.execute("INSERT INTO results VALUES ('webpage', 'in-process', 'd', 'completed', 200, '{}', 0.0)")
            resp = await client.post("/analyse", data=form)
            assert resp.status == 200
            rows = sorted(conn.execute("SELECT client_id, record_id FROM results").fetchall())
            assert rows == [("c-token", "kept"), ("webpage", "in-process")]  # a token's, submit()'s: kept
        finally:
            conn.close()

    async def test_example_csv_download(self, client: TestClient) -> None:
        resp = await client.get("/examples/cinc2017_A00013_other.csv")
        assert resp.status == 200
        assert len((await resp.text()).split()) == 9000
        assert (await client.get("/examples/nope.csv")).status == 404


def test_findings_have_no_made_up_probability() -> None:
    from cloud.webpage import _header, _result_html

    result = {"diagnoses": [{"code": "A", "label": "Atrial fibrillation", "probability": 0.7},
                            {"code": "LQT", "label": "prolonged QTc", "probability": None}],
              "heartRate": 101.2, "measurements": {"prMs": None, "qrsMs": 90, "qtMs": 380, "qtcMs": 480},
              "modelVersion": "m", "processingMs": 12.7}
    html = _result_html(result, b"png", None)
    assert "<th>prolonged QTc</th><td>finding</td>" in html and "<td>0.70</td>" in html
    assert "13 ms" in html and "101 bpm" in html
    header = _header(result, 30.0, "pasted CSV")
    assert header.result == "Atrial fibrillation" and header.findings == ("prolonged QTc",)
    assert header.qtc_ms == 480.0 and header.pr_ms is None


def test_report_and_page_show_the_verdict_not_the_top_class() -> None:
    from cloud.webpage import _header, _result_html

    result = {"rhythm": {"code": "N", "category": "inconclusive", "probability": 0.41, "label": "Inconclusive"},
              "diagnoses": [{"code": "N", "label": "Sinus rhythm", "probability": 0.41},
                            {"code": "A", "label": "Atrial fibrillation (suspected)", "probability": 0.33}],
              "heartRate": 80.0, "measurements": {"prMs": None, "qrsMs": 90, "qtMs": 380, "qtcMs": 420},
              "modelVersion": "m", "processingMs": 12.7}
    header = _header(result, 30.0, "pasted CSV")
    assert header.result == "Inconclusive" and header.findings == ()
    assert "<td id=rhythm>Inconclusive</td>" in _result_html(result, b"png", None)
