"""The analysis service's web page for people: paste or upload a CSV, get a report.

As on CardioLearn's page: give the sampling frequency, ADC gain and baseline, upload a
CSV file or paste CSV text (or pick one of the real example records), press "Analyse",
and the clinical-grid report with the results appears below the form.

How it authenticates: the page needs no token. The form posts to ``POST /analyse`` on
the same origin; the server reads the body with the edge's limits (:mod:`cloud.edge`:
size counted after decompression, a deadline), decodes the form and parses the CSV
**as text** (:func:`ecg.io.parse_csv`: nothing a visitor types is ever opened as a path)
in the edge's parse pool, and runs the checked request through the same queue, workers
and result store as the API (stored under the client name ``webpage``), so no API token
is ever sent to a browser. Answers carry a strict Content-Security-Policy (the page's
own inline style and script by hash), ``X-Frame-Options: DENY`` and ``nosniff``.
Instead of a token the form is rate-limited per client address (``WEB_RATE_PER_S``,
``WEB_BURST``; over the limit the page says when to retry, HTTP 429), bodies are
limited to ``MAX_FORM_BYTES``, and nothing a visitor sends is kept beyond the result
store. Deployments that must not offer anonymous analysis simply do not call
:func:`setup` (or put the page behind their own login).
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import functools
import hashlib
import json
import logging
import math
import urllib.parse
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from cloud import edge
from cloud.analysis import SERVICE_KEY
from cloud.errors import AnalysisFailed, AnalysisTimeout, OverCapacity, QueueFull, RequestError, Unavailable
from cloud.ratelimit import RateLimiter
from ecg.classes import SAFETY_TEXT, ClassTableError, by_category
from cloud.validation import LEAD_FIELDS, AnalysisRequest, parse_request
from ecg.errors import EcgError
from ecg.io import parse_csv
from ecg.report import ReportHeader, figure_bytes, make_figure
from ecg.report.layout import normalise_lead_name

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).parent / "examples"
#: largest form accepted (file or pasted text), bytes
MAX_FORM_BYTES = 4 * 1024 * 1024
#: human-paced limit per client address
WEB_RATE_PER_S = 0.5
WEB_BURST = 10
#: client id of the page's analyses in the store (their answers are not kept: see
#: AnalysisService.submit_unkept); not "webpage", the default of cloud.analysis.submit,
#: whose in-process callers keep theirs
WEB_CLIENT = "webpage-form"
#: report resolution on the page
REPORT_DPI = 110.0
_FIELD_OF_LEAD = {lead: field for field, lead in LEAD_FIELDS.items()}
WEB_LIMITER_KEY = web.AppKey("web_limiter", RateLimiter)
EXAMPLES_KEY = web.AppKey("web_examples", dict)


class FormError(ValueError):
    """The form cannot be analysed; ``message`` is shown on the page (status 400)."""

    def __init__(self, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message)
        self.field_name = field_name


def load_examples() -> dict[str, dict[str, Any]]:
    """The packaged example records by name (from ``examples/examples.json``)."""
    try:
        items = json.loads((EXAMPLES_DIR / "examples.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("no example records found in %s", EXAMPLES_DIR)
        return {}
    return {item["name"]: item for item in items if (EXAMPLES_DIR / f"{item['name']}.csv").is_file()}


def setup(app: web.Application) -> None:
    """Add the web page routes (``GET /``, ``POST /analyse``, ``GET /examples/...``) to ``app``."""
    app[WEB_LIMITER_KEY] = RateLimiter(WEB_RATE_PER_S, WEB_BURST)
    app[EXAMPLES_KEY] = load_examples()
    app.router.add_get("/", page)
    app.router.add_post("/analyse", analyse_form, expect_handler=edge.expect_handler(MAX_FORM_BYTES))
    app.router.add_get("/examples/{name}.csv", example_csv)


def _number(form: dict[str, str], name: str, label: str, *, integer: bool = False) -> float:
    text = form.get(name, "").strip()
    try:
        value = float(text)
    except ValueError:
        raise FormError(f"{label} must be a number, got {text[:30]!r}", field_name=name) from None
    if not np.isfinite(value) or (integer and value != int(value)):
        raise FormError(f"{label} must be a finite {'integer' if integer else 'number'}", field_name=name)
    return value


def payload_from_csv(text: str, fs_hz: float, adc_gain: float, baseline: int) -> tuple[dict[str, Any], Any]:
    """Parse CSV text with ``ecg.io.parse_csv`` (text only, never a path) and build the API's JSON request from it.

    Returns
    -------
    (dict, ecg.io.Record)
        The ``POST /v1/analyses`` payload (integer counts per lead) and the parsed record.

    Raises
    ------
    FormError
        Malformed CSV (with its line number), unknown lead names, impossible parameters.
    """
    if adc_gain <= 0:
        raise FormError("ADC gain must be greater than 0 (counts per millivolt)", field_name="adcGain")
    try:
        record = parse_csv(text, fs_hz=fs_hz, adc_gain=adc_gain, baseline=baseline)
    except EcgError as exc:
        raise FormError(f"the CSV cannot be read: {exc}", field_name="csv") from None
    payload: dict[str, Any] = {"sampleRate": fs_hz, "adcGain": adc_gain, "baseline": baseline}
    names = record.lead_names if len(record.lead_names) > 1 else ("I",)
    for i, name in enumerate(names):
        lead = normalise_lead_name(name)
        field = _FIELD_OF_LEAD.get(lead)
        if field is None:
            raise FormError(f"unknown lead {name!r} in the CSV header; use {', '.join(LEAD_FIELDS.values())}",
                            field_name="csv")
        if field in payload:
            raise FormError(f"lead {lead} appears twice in the CSV header", field_name="csv")
        counts = np.round(record.signals_mv[:, i] * adc_gain + baseline)
        payload[field] = counts.astype(np.int64).tolist()
    return payload, record


def _header(result: dict[str, Any], duration_s: float, source: str) -> ReportHeader:
    diagnoses = [d for d in result.get("diagnoses") or [] if isinstance(d, dict)]
    meas = result.get("measurements")
    meas = meas if isinstance(meas, dict) else {}

    quality = result.get("quality")
    if isinstance(quality, dict):
        quality = "good" if quality.get("readable") else "unreadable: " + ", ".join(map(str, quality.get("reasons", [])))
    rhythm = result.get("rhythm")
    rhythm = rhythm if isinstance(rhythm, dict) else {}
    try:  # the class table's words for the answer's rhythm (issue 14); else the top diagnosis
        words: str | None = by_category(str(rhythm.get("category"))).patient_label
    except ClassTableError:
        words = str(diagnoses[0].get("label")) if diagnoses else None
    return ReportHeader(
        title="ECG analysis report", record_id=str(result.get("recordId", ""))[:36] or None, device=source,
        duration_s=round(duration_s, 1), result=words,
        heart_rate_bpm=_finite(result.get("heartRate")), pr_ms=_finite(meas.get("prMs")),
        qrs_ms=_finite(meas.get("qrsMs")), qt_ms=_finite(meas.get("qtMs")), qtc_ms=_finite(meas.get("qtcMs")),
        quality=None if quality is None else str(quality),
        findings=tuple(str(d.get("label")) for d in diagnoses if d.get("probability") is None)[:5],  # findings only
        source=f"cloud model {result.get('modelVersion', '?')}", safety=SAFETY_TEXT,
    )


def _probability(diagnosis: dict[str, Any], fmt: str) -> str:
    """A diagnosis' probability formatted, or "" for findings (which have none)."""
    value = _finite(diagnosis.get("probability"))
    return "" if value is None else fmt.format(value)


def _finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _client_key(request: web.Request) -> str:
    return "web:" + (request.remote or "?")


#: form fields read at most (anything beyond is a malformed form)
MAX_FORM_FIELDS = 16


def decode_form(body: bytes, content_type: str) -> tuple[dict[str, str], str | None]:
    """Text fields and the uploaded file's text (None when no file) of a form body.

    Runs in the parse pool (the body is already limited in size after decompression).

    Raises
    ------
    FormError
        Not a form, too many fields, a part that is not UTF-8 text.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                           max_num_fields=MAX_FORM_FIELDS, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise FormError("the form is not UTF-8 text or has too many fields") from None
        return dict(pairs), None
    if kind != "multipart/form-data":
        raise FormError("send the form as multipart/form-data or application/x-www-form-urlencoded")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise FormError("the multipart form cannot be read (missing boundary?)")
    fields: dict[str, str] = {}
    upload: str | None = None
    for i, part in enumerate(message.iter_parts()):
        if i >= MAX_FORM_FIELDS:
            raise FormError("the form has too many fields")
        name = part.get_param("name", header="content-disposition")
        raw = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(raw, bytes):
            continue
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FormError("the file is not UTF-8 text (a CSV of numbers is expected)", field_name="csv") from None
        if name == "csvfile":
            upload = text if text.strip() else None
        else:
            fields[name] = text
    return fields, upload


@dataclass(frozen=True)
class ParsedForm:
    """A form turned into an analysis request (picklable: built in the parse pool)."""

    fields: dict[str, str]
    request: AnalysisRequest | None
    lead_names: tuple[str, ...]
    source: str
    error: str | None = None
    error_status: int = 400


def parse_form(body: bytes, content_type: str, examples: dict[str, dict[str, Any]]) -> ParsedForm:
    """Form body → checked :class:`~cloud.validation.AnalysisRequest` (or the message to show)."""
    fields: dict[str, str] = {}
    try:
        fields, upload = decode_form(body, content_type)
        text, fs_hz, adc_gain, baseline, what = _source(fields, upload, examples)
        payload, _ = payload_from_csv(text, fs_hz, adc_gain, baseline)
    except FormError as exc:
        return ParsedForm(fields, None, (), "", error=str(exc))
    try:
        request = parse_request(payload)
    except RequestError as exc:
        detail = exc.detail + "".join(f"; {e.get('field', '')}: {e.get('message', '')}" for e in exc.errors or [])
        return ParsedForm(fields, None, (), what, error=f"The service refused the record: {detail}",
                          error_status=exc.status)
    return ParsedForm(fields, request, payload_leads(payload), what)


def _source(fields: dict[str, str], upload: str | None, examples: dict[str, dict[str, Any]]
            ) -> tuple[str, float, float, int, str]:
    """(csv text, fs_hz, adc_gain, baseline, description) from the form."""
    if upload is not None:
        text, what = upload, "uploaded CSV"
    elif fields.get("csvtext", "").strip():
        text, what = fields["csvtext"], "pasted CSV"
    elif fields.get("example"):
        item = examples.get(fields["example"])
        if item is None:
            raise FormError(f"unknown example {fields['example'][:40]!r}", field_name="example")
        text = (EXAMPLES_DIR / f"{item['name']}.csv").read_text(encoding="utf-8")
        return text, float(item["sampleRate"]), float(item["adcGain"]), int(item["baseline"]), f"example {item['name']}"
    else:
        raise FormError("upload a CSV file, paste CSV text or choose an example", field_name="csv")
    fs_hz = _number(fields, "sampleRate", "Sampling frequency")
    adc_gain = _number(fields, "adcGain", "ADC gain")
    baseline = int(_number(fields, "baseline", "Baseline", integer=True))
    return text, fs_hz, adc_gain, baseline, what


async def analyse_form(request: web.Request) -> web.Response:
    """``POST /analyse``: the form's submission; answers the page with results or a message.

    The body is read with the edge's limits (size after decompression, deadline), and
    decoded, CSV-parsed and checked in the parse pool, off the event loop.
    """
    app = request.app
    examples = app[EXAMPLES_KEY]
    wait_s = app[WEB_LIMITER_KEY].acquire(_client_key(request))
    if wait_s > 0:
        return _page(examples, {}, error=f"Too many analyses from your address; retry in {wait_s:.0f} s.",
                     status=429, headers={"Retry-After": str(max(1, round(wait_s)))})
    hold = app[edge.BODY_BUDGET_KEY].hold(_client_key(request))
    try:
        try:
            body = await edge.read_body(request, max_bytes=MAX_FORM_BYTES, timeout_s=app[edge.BODY_TIMEOUT_KEY],
                                        hold=hold)
        except RequestError as exc:
            response = _page(examples, {}, error=exc.detail, status=exc.status)
            response.force_close()
            return response
        except OverCapacity:  # the body budget (cloud/edge.py): the rest of the body is not read
            response = _page(examples, {}, error="The service is receiving too many forms; retry in a few seconds.",
                             status=503, headers={"Retry-After": "1"})
            response.force_close()
            return response
        parsed = await app[edge.PARSE_KEY].run(parse_form, body, request.headers.get("Content-Type", ""), examples)
        del body
    finally:
        hold.release()
    if parsed.error is not None or parsed.request is None:
        return _page(examples, parsed.fields, error=parsed.error, status=parsed.error_status)
    app[SERVICE_KEY].metrics.count("requests")
    try:
        stored = await app[SERVICE_KEY].submit_unkept(WEB_CLIENT, parsed.request)  # nobody can ask for it again
    except (AnalysisFailed, AnalysisTimeout, QueueFull, Unavailable) as exc:
        return _page(examples, parsed.fields, error=f"The analysis could not run now ({exc}); please retry.",
                     status=503)
    if stored.http_status != 200:
        return _page(examples, parsed.fields, status=stored.http_status,
                     error=f"The service refused the record: {stored.body.get('detail', '')}")
    result = stored.body
    req = parsed.request
    header = _header(result, req.duration_s, parsed.source)
    render = functools.partial(_render, req.signals_mv(), req.fs_hz, parsed.lead_names, header)
    png, pdf = await asyncio.get_running_loop().run_in_executor(None, render)
    return _page(examples, parsed.fields, result=result, png=png, pdf=pdf)


def _render(signals_mv: np.ndarray, fs_hz: float, leads: tuple[str, ...], header: ReportHeader) -> tuple[bytes, bytes]:
    """The report as PNG (shown on the page) and PDF (true-to-scale download), drawn once."""
    fig, _ = make_figure(signals_mv, fs_hz, leads, header)
    return figure_bytes(fig, "png", dpi=REPORT_DPI), figure_bytes(fig, "pdf")


def payload_leads(payload: dict[str, Any]) -> tuple[str, ...]:
    """Lead names of a payload, in its field order."""
    return tuple(LEAD_FIELDS[k] for k in payload if k in LEAD_FIELDS)


async def page(request: web.Request) -> web.Response:
    """``GET /``: the empty form."""
    return _page(request.app[EXAMPLES_KEY], {})


async def example_csv(request: web.Request) -> web.StreamResponse:
    """``GET /examples/{name}.csv``: an example record's CSV text."""
    item = request.app[EXAMPLES_KEY].get(request.match_info["name"])
    if item is None:
        raise web.HTTPNotFound(text="no such example")
    return web.FileResponse(EXAMPLES_DIR / f"{item['name']}.csv",
                            headers={**SECURITY_HEADERS, "Content-Type": "text/csv", "Cache-Control": "no-cache"})


_CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,sans-serif;color:#1b1b1f;background:#faf7f8}
header{padding:.7rem 1rem;background:#fff;border-bottom:2px solid #e47a8c;font-weight:700;color:#c2475e}
main{max-width:64rem;margin:0 auto;padding:1rem}h1{font-size:1.4rem}h2{font-size:1.1rem;margin:.2rem 0 .6rem}
form,.card{background:#fff;border-radius:.6rem;padding:1rem;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:1rem}
.step{margin-bottom:1rem}.params{display:flex;flex-wrap:wrap;gap:1rem}.params label{flex:1 1 10rem}
label{display:block;font-weight:500}input[type=number],select,textarea{width:100%;padding:.45rem;font:inherit;
border:1px solid #ccc;border-radius:.4rem}textarea{height:7rem;font-family:ui-monospace,monospace;font-size:.85rem}
button{padding:.7rem 1.6rem;font:inherit;font-weight:600;border:0;border-radius:.5rem;background:#e47a8c;color:#fff}
.error{padding:.8rem;border-radius:.5rem;background:#fdecee;color:#a3121f;font-weight:600}
table{border-collapse:collapse}th{text-align:left;padding:.2rem 1rem .2rem 0;color:#666;font-weight:500}
figure{margin:0;overflow-x:auto}figure img{width:100%;min-width:40rem;height:auto}.hint{color:#666;font-size:.9rem}
"""

_JS = """
document.getElementById('example').addEventListener('change',e=>{const o=e.target.selectedOptions[0];
if(!o.value)return;for(const k of['sampleRate','adcGain','baseline'])document.getElementById(k).value=o.dataset[k];});
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


#: the page's own inline style and script only; no framing, no plugins, forms post here only
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_JS)}; img-src data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _ms(value: Any) -> str:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    return f"{value:.0f} ms" if ok else "—"


def _qtc_name(meas: dict[str, Any]) -> str:
    """"QTc (Fridericia)" when the answer names its formula (it always does since 2026-12)."""
    formula = meas.get("qtcFormula")
    return f"QTc ({escape(formula)})" if isinstance(formula, str) and formula else "QTc"


def _result_html(result: dict[str, Any], png: bytes, pdf: bytes | None) -> str:
    rhythm = result.get("rhythm")
    rows = [f"<tr><th>Rhythm</th><td id=rhythm>{escape(str(rhythm.get('label')))}</td></tr>"] if isinstance(rhythm, dict) else []
    for d in result.get("diagnoses") or []:
        if isinstance(d, dict):
            rows.append(f"<tr><th>{escape(str(d.get('label') or d.get('code')))}</th>"
                        f"<td>{_probability(d, '{:.2f}') or 'finding'}</td></tr>")
    meas = result.get("measurements") or {}
    facts = [("Heart rate", result.get("heartRate"), "bpm")] + [
        (name, meas.get(key), "ms") for key, name in (("prMs", "PR"), ("qrsMs", "QRS"), ("qtMs", "QT"), ("qtcMs", _qtc_name(meas)))]
    facts_html = "".join(
        f"<tr><th>{name}</th><td>{'—' if not isinstance(v, (int, float)) else f'{v:.0f} {unit}'}</td></tr>"
        for name, v, unit in facts)
    image = base64.b64encode(png).decode("ascii")
    return (f"<section class=card id=result><h2>Result</h2><table id=diagnoses>{''.join(rows)}</table>"
            f"<table>{facts_html}</table><p class=hint>Model {escape(str(result.get('modelVersion', '?')))} · "
            f"{_ms(result.get('processingMs'))}</p>"
            f'<figure><img id=report alt="ECG report" src="data:image/png;base64,{image}"></figure>'
            + (f'<p><a id=pdf download="cardiolink-report.pdf" href="data:application/pdf;base64,'
               f'{base64.b64encode(pdf).decode("ascii")}">Download the report as PDF</a> '
               "(print at 100 % / actual size: 25 mm/s, 10 mm/mV)</p>" if pdf else "")
            + "</section>")


def _page(examples: dict[str, dict[str, Any]], fields: dict[str, str], *, error: str | None = None,
          result: dict[str, Any] | None = None, png: bytes | None = None, pdf: bytes | None = None,
          status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    def value(name: str, default: str) -> str:
        return escape(fields.get(name, default), quote=True)

    options = "".join(
        f'<option value="{escape(n, quote=True)}" data-sample-rate="{e["sampleRate"]:g}" data-adc-gain='
        f'"{e["adcGain"]:g}" data-baseline="{e["baseline"]}"{" selected" if fields.get("example") == n else ""}>'
        f'{escape(e["title"])}</option>' for n, e in examples.items())
    body = (
        "<h1>ECG analysis</h1><form method=post action=/analyse#result enctype=multipart/form-data id=analyse>"
        "<div class=step><h2>1 · Parameters of your ECG</h2><div class=params>"
        f'<label>Sampling frequency (Hz)<input type=number step=any id=sampleRate name=sampleRate value="{value("sampleRate", "300")}"></label>'
        f'<label>ADC gain (counts/mV)<input type=number step=any id=adcGain name=adcGain value="{value("adcGain", "1000")}"></label>'
        f'<label>Baseline (counts)<input type=number step=1 id=baseline name=baseline value="{value("baseline", "0")}"></label>'
        "</div></div><div class=step><h2>2 · Your ECG data</h2>"
        "<label>Upload a CSV file<input type=file name=csvfile accept=.csv,.txt,text/csv></label>"
        f'<label>or paste CSV text<textarea name=csvtext placeholder="one ADC count per line, or a header line such as I,II,V1 and one row per sample">{escape(fields.get("csvtext", ""))}</textarea></label>'
        f'<label>or choose an example (real records)<select id=example name=example><option value="">—</option>{options}</select></label>'
        "<p class=hint>An uploaded file is used first, then pasted text, then the example.</p></div>"
        '<div class=step><h2>3 · Analyse</h2><button type=submit>Analyse</button></div></form>'
        + (f"<p class=error id=error role=alert>{escape(error)}</p>" if error else "")
        + (_result_html(result, png, pdf) if result is not None and png is not None else "")
    )
    html = ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1"><title>cardiolink · ECG analysis</title>'
            f"<style>{_CSS}</style></head><body><header>cardiolink cloud</header><main>{body}</main>"
            f"<script>{_JS}</script></body></html>")
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status,
                        headers={**SECURITY_HEADERS, **(headers or {})})
