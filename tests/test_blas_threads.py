"""The command and the cloud run numpy with one OpenBLAS thread per process (unless the operator says otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import {pkg}, os, numpy\n"
    "print(os.environ['OPENBLAS_NUM_THREADS'])\n"
    "try:\n"
    "    import threadpoolctl\n"
    "except ImportError:\n"
    "    print('-')\n"
    "else:\n"
    "    pools = [p for p in threadpoolctl.threadpool_info() if p['internal_api'] == 'openblas']\n"
    "    print(','.join(str(p['num_threads']) for p in pools) or '-')\n"
)


def _probe(pkg: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    clean.update(env, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", PROBE.format(pkg=pkg)], env=clean, capture_output=True,
                         text=True, check=True, timeout=60)
    return out.stdout.split()


@pytest.mark.parametrize("pkg", ["cardio", "cloud"])
def test_one_blas_thread_by_default(pkg: str) -> None:
    setting, loaded = _probe(pkg)
    assert setting == "1"
    assert loaded in ("-", "1")  # numpy's OpenBLAS really runs one thread (when threadpoolctl can tell)


@pytest.mark.parametrize("pkg", ["cardio", "cloud"])
def test_the_operators_setting_wins(pkg: str) -> None:
    assert _probe(pkg, OPENBLAS_NUM_THREADS="2")[0] == "2"
