"""Typed async client of the cardiolink analysis API (imports nothing else of ours).

>>> from cloud_client import CloudClient, AnalysisRequest
"""

from cloud_client.client import CloudClient
from cloud_client.errors import (
    AnalysisLost,
    ApiError,
    AuthError,
    CloudClientError,
    CloudUnavailable,
    ProtocolError,
    RequestRejected,
)
from cloud_client.models import AnalysisRequest, AnalysisResult, Diagnosis, Measurements, Quality, Rhythm

__all__ = [
    "AnalysisLost",
    "AnalysisRequest",
    "AnalysisResult",
    "ApiError",
    "AuthError",
    "CloudClient",
    "CloudClientError",
    "CloudUnavailable",
    "Diagnosis",
    "Measurements",
    "ProtocolError",
    "Quality",
    "RequestRejected",
    "Rhythm",
]
