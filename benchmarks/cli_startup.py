"""CPU time of starting the ``cardio`` command, side by side with a bare interpreter.

Each command runs as a fresh process (``python -m cardio ...``); the figure is the child's
user + system CPU time (``os.times``), the best and the median of ``--repeat`` runs. The
peer is ``python -c pass`` (what any Python command costs before it does anything) and
``python -m pip --version``, a familiar command-line tool of the same interpreter. Target
(issue 14): ``cardio --help`` under 0.3 s of CPU.

    python benchmarks/cli_startup.py --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass (peer: bare interpreter)": ["-c", "pass"],
    "python -m pip --version (peer: a CLI tool)": ["-m", "pip", "--version"],
    "cardio --help": ["-m", "cardio", "--help"],
    "cardio history --help": ["-m", "cardio", "history", "--help"],
    "cardio record --help": ["-m", "cardio", "record", "--help"],
    "cardio screen --help": ["-m", "cardio", "screen", "--help"],
}
TARGET_S = 0.3


def cpu_s(args: list[str]) -> float:
    """CPU seconds (user + system) of one child process."""
    before = os.times()
    subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{'command':<45} {'best':>8} {'median':>8}  (CPU s, {args.repeat} runs)")
    for name, argv in COMMANDS.items():
        runs = [cpu_s(argv) for _ in range(args.repeat)]
        flag = ""
        if name == "cardio --help":
            flag = "  target < 0.3 s: " + ("met" if statistics.median(runs) < TARGET_S else "MISSED")
        print(f"{name:<45} {min(runs):8.3f} {statistics.median(runs):8.3f}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
