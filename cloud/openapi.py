"""The OpenAPI 3 document of the service (served at ``/openapi.json``)."""

from __future__ import annotations

import math
from typing import Any

from cloud.config import CloudConfig
from cloud.validation import (
    DURATION_MAX_S,
    DURATION_MIN_S,
    FS_MAX_HZ,
    FS_MIN_HZ,
    GAIN_MAX,
    GAIN_MIN,
    LEAD_FIELDS,
    RECORD_ID_PATTERN,
    SAMPLE_MAX,
    SAMPLE_MIN,
)
from ecg.classes import CATEGORIES, CLASS_CODES
from ecg.findings import QTC_FORMULA

_INT32 = {"type": "integer", "minimum": SAMPLE_MIN, "maximum": SAMPLE_MAX}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}


def example_request() -> dict[str, Any]:
    """A valid single-lead request: 6 s of a synthetic 72 bpm ECG-like wave at 100 Hz.

    A deterministic ±2-count dither stands for ADC noise: a perfectly constant baseline
    sitting at the trace's minimum reads as a clipped (railed) signal, i.e. unreadable.
    """
    fs_hz, gain = 100.0, 200.0
    samples = []
    for i in range(600):
        phase = (i / fs_hz) % (60.0 / 72.0)
        r = math.exp(-(((phase - 0.25) / 0.012) ** 2))
        t = 0.3 * math.exp(-(((phase - 0.5) / 0.05) ** 2))
        p = 0.12 * math.exp(-(((phase - 0.1) / 0.025) ** 2))
        samples.append(round((r + t + p) * gain) + (i * 37) % 5 - 2)
    return {"sampleRate": fs_hz, "adcGain": gain, "baseline": 0, "recordId": "example-0001", "dataI": samples}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _request_schema() -> dict[str, Any]:
    lead = {
        "type": "array",
        "nullable": True,
        "items": _INT32,
        "maxItems": int(DURATION_MAX_S * FS_MAX_HZ),
        "description": "ADC counts of one lead; null or absent when not recorded",
    }
    properties: dict[str, Any] = {
        "sampleRate": {"type": "number", "minimum": FS_MIN_HZ, "maximum": FS_MAX_HZ, "description": "Hz"},
        "adcGain": {"type": "number", "minimum": GAIN_MIN, "maximum": GAIN_MAX, "description": "ADC counts per mV"},
        "baseline": {**_INT32, "nullable": True, "default": 0, "description": "ADC count of 0 mV"},
        "recordId": {"type": "string", "nullable": True, "pattern": RECORD_ID_PATTERN,
                     "description": "client idempotency key; null or absent: the server makes one"},
    }
    properties.update({field: dict(lead) for field in LEAD_FIELDS})
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["sampleRate", "adcGain"],
        "properties": properties,
        "description": (
            f"CardioLearn's request form. At least one lead; all leads equally long; the recording must "
            f"last {DURATION_MIN_S:g}-{DURATION_MAX_S:g} s at sampleRate, else 422. Only dataI for the "
            "single-lead model; two or more leads use the multi-lead analysis."
        ),
    }


def _rhythm_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "category", "probability", "label"],
        "description": (
            "The verdict, decided by the same function as the phone's local screening (ecg.screening). "
            "code is the best guess (also when category is inconclusive); unreadable: code '~', "
            "heartRate and every interval null, reasons in quality."
        ),
        "properties": {
            "code": {"type": "string", "enum": list(CLASS_CODES)},
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "probability": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True,
                            "description": "model probability of code; null when the model was not run"},
            "label": {"type": "string", "description": "words for the person who recorded"},
        },
    }


def _result_schema() -> dict[str, Any]:
    nullable_ms = {"type": "number", "nullable": True, "description": "ms; null when not measurable"}
    return {
        "type": "object",
        "required": [
            "status", "recordId", "modelVersion", "rhythm", "diagnoses", "heartRate",
            "measurements", "quality", "leads", "processingMs",
        ],
        "properties": {
            "status": {"type": "string", "enum": ["completed"]},
            "recordId": {"type": "string"},
            "modelVersion": {"type": "string"},
            "rhythm": _rhythm_schema(),
            "diagnoses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "label", "probability"],
                    "properties": {
                        "code": {"type": "string"},
                        "label": {"type": "string"},
                        "probability": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
                    },
                },
            },
            "heartRate": {**_NULLABLE_NUMBER, "description": "beats per minute"},
            "measurements": {
                "type": "object",
                "required": ["prMs", "qrsMs", "qtMs", "qtcMs", "qtcFormula"],
                "properties": {**{k: nullable_ms for k in ("prMs", "qrsMs", "qtMs", "qtcMs")},
                               "qtcFormula": {"type": "string", "enum": [QTC_FORMULA, None], "nullable": True,
                                              "description": "the heart-rate correction of qtcMs; "
                                                             "null when qtcMs is null"}},
            },
            "quality": {
                "type": "object",
                "required": ["readable", "reasons"],
                "properties": {"readable": {"type": "boolean"}, "reasons": {"type": "array", "items": {"type": "string"}}},
            },
            "leads": {"type": "array", "items": {"type": "string"}},
            "durationS": {"type": "number"},
            "processingMs": {"type": "number", "minimum": 0},
        },
    }


def _components() -> dict[str, Any]:
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    percentiles = {
        "type": "object",
        "required": ["n", "p50", "p90", "p99", "max"],
        "properties": {"n": {"type": "integer"}, **{k: _NULLABLE_NUMBER for k in ("p50", "p90", "p99", "max")}},
    }
    return {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "AnalysisRequest": _request_schema(),
            "AnalysisResult": _result_schema(),
            "Pending": {
                "type": "object",
                "required": ["status", "recordId"],
                "properties": {"status": {"type": "string", "enum": ["pending"]}, "recordId": {"type": "string"}},
            },
            "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "message"],
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        },
                    },
                },
            },
            "Health": {
                "type": "object",
                "required": ["status", "workers", "store", "queue"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "unavailable"]},
                    "workers": {"type": "integer"},
                    "store": {"type": "string"},
                    "queue": {"type": "string"},
                    "queueDepth": {"type": "integer"},
                },
            },
            "Metrics": {
                "type": "object",
                "required": ["queueDepth", "inFlight", "workers", "counts", "latencyMs", "processingMs"],
                "properties": {
                    "uptimeS": {"type": "number"},
                    "queueDepth": {"type": "integer"},
                    "inFlight": {"type": "integer"},
                    "workers": {"type": "integer"},
                    "storedResults": {"type": "integer"},
                    "queueBytes": {"type": "integer"},
                    "deadLetters": {"type": "integer"},
                    "counts": counts,
                    "latencyMs": percentiles,
                    "processingMs": percentiles,
                },
            },
        },
    }


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def openapi_document(config: CloudConfig) -> dict[str, Any]:
    """The OpenAPI 3.0 document for a service with *config*."""
    auth_errors = {
        "401": {
            **_problem_response("missing, unknown or revoked token"),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        },
        "429": {**_problem_response("rate limit exceeded"), "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
    }
    post = {
        "summary": "Analyse one ECG recording (idempotent by recordId)",
        "operationId": "createAnalysis",
        "security": [{"bearerAuth": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/AnalysisRequest"},
                    "example": example_request(),
                }
            },
        },
        "responses": {
            "200": {**_json_response("analysis result", "AnalysisResult"), "links": {
                "GetAnalysisByRecordId": {"operationId": "getAnalysis",
                                          "parameters": {"recordId": "$response.body#/recordId"},
                                          "description": "the stored answer of this recording"}}},
            "400": _problem_response("body is not JSON, or its Content-Encoding does not decode"),
            **auth_errors,
            "408": _problem_response(f"body not received within {config.body_timeout_s:g} s"),
            "413": _problem_response(
                f"body larger than {config.max_body_bytes} bytes after decompression (refused before reading "
                "when Content-Length says so, and instead of 100 Continue)"),
            "415": _problem_response("Content-Encoding other than gzip, deflate or identity"),
            "422": _problem_response("request rejected, or signal not analysable"),
            "409": _problem_response("recordId already used for a different recording (conflict)"),
            "500": _problem_response("analysis failed after every attempt"),
            "503": {
                **_problem_response("queue full, over capacity, parser busy, or store/queue unavailable; retry after Retry-After"),
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            },
            "504": _problem_response("no answer in time; retry with the same recordId"),
        },
    }
    get = {
        "summary": "Fetch the answer for a recordId",
        "operationId": "getAnalysis",
        "security": [{"bearerAuth": []}],
        "parameters": [{"name": "recordId", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": _json_response("analysis result", "AnalysisResult"),
            "202": _json_response("queued or running", "Pending"),
            **auth_errors,
            "404": _problem_response(
                "no such record for this token (not-found), or accepted but lost by a restart or failure before it"
                " was queued (analysis-lost: send the same recording again with the same recordId)"
            ),
            "422": _problem_response("the stored answer: signal not analysable"),
            "503": {
                **_problem_response("store unavailable; retry after Retry-After"),
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "cardiolink analysis API",
            "version": "1.0.0",
            "description": "Open ECG analysis API in the form of CardioLearn's (sampleRate, adcGain, dataI...dataV6).",
        },
        "paths": {
            "/v1/analyses": {"post": post},
            "/v1/analyses/{recordId}": {"get": get},
            "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz", "responses": {"200": _json_response("store and queue answer", "Health"), "503": _json_response("store or queue down", "Health")}}},
            "/metrics": {"get": {"summary": "Queue depth, counters, latency percentiles", "operationId": "metrics", "responses": {"200": _json_response("metrics", "Metrics")}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": _components(),
    }
