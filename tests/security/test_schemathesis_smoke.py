"""The CI-sized schemathesis run of issue 13: every check, every phase (stateful included),
against the real ``cardio-cloud serve`` of this folder. The full run (>= 3,000 examples)
is ``tests/security/schemathesis_full.sh``; its command and result are in docs/security.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.security.conftest import Service, env

HERE = Path(__file__).resolve().parent
#: examples per operation and phase in CI (the full run uses 3,000)
CI_EXAMPLES = 10


def test_schemathesis_all_checks_all_phases_find_nothing(cloud_service: Service, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(st), "--config-file", str(HERE / "schemathesis.toml"), "run", f"{cloud_service.url}/openapi.json",
         "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(CI_EXAMPLES),
         "-H", f"Authorization: Bearer {cloud_service.token}", "--workers", "1", "--seed", "13", "--no-color",
         "--request-timeout", "60"],
        env=env(), capture_output=True, text=True, timeout=280, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert cloud_service.alive()
