"""Issue 13's reproducers against a real ``cardio serve`` subprocess and the ``cardio`` command.

Each test replays one defect's reproducer (the number is its row in issue 13).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from tests.security.conftest import Service, env, free_port, start, stop


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _cardio(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cardio", *args], env=env(), capture_output=True, text=True,
                          timeout=timeout_s)


class TestOtherLocalPagesCannotReadTheLiveEcg:
    """#4: cross-site websocket and ``<img>`` probes of ``cardio serve``."""

    async def test_cross_site_websocket_refused(self, companion_service: Service) -> None:
        async with aiohttp.ClientSession() as session:
            for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"},
                            {"Sec-Fetch-Site": "cross-site"}):
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await session.ws_connect(companion_service.url + "/live/ws", headers=headers)
                assert info.value.status == 403

    def test_img_probes_learn_nothing(self, companion_service: Service) -> None:
        probe = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
        statuses = {_get(f"{companion_service.url}/recordings/{rid}/report.png", probe) for rid in (1, 2, 999)}
        assert statuses == {403}
        assert {_get(f"{companion_service.url}/recordings/{rid}/export/csv") for rid in (1, 999)} == {403}


class TestServeHostsAndIds:
    """#22: Host check on any loopback bind, one discovery file per server, huge ids."""

    def test_huge_recording_id_is_404(self, companion_service: Service) -> None:
        assert _get(f"{companion_service.url}/recordings/{'9' * 400}") == 404
        assert _get(f"{companion_service.url}/recordings/{2**63}/report.png") == 404

    def test_second_serve_on_127_0_0_2_keeps_host_check_and_the_first_discovery_file(
            self, companion_service: Service, companion_home: Path) -> None:
        files_before = set((companion_home / "serve").glob("*.json"))
        assert len(files_before) == 1
        port = free_port()
        second = start([sys.executable, "-m", "cardio", "serve", "--host", "127.0.0.2", "--port", str(port),
                        "--data-dir", str(companion_home), "--no-sync"], port, companion_home,
                       companion_home.parent / "serve2.log", host="127.0.0.2")
        try:
            assert _get(second.url + "/", {"Host": "evil.example"}) == 421
            assert _get(second.url + "/") == 200
            assert len(set((companion_home / "serve").glob("*.json"))) == 2
        finally:
            stop(second)
        assert set((companion_home / "serve").glob("*.json")) == files_before  # the first one's is intact


class TestHistoryFiles:
    def test_14_history_is_private(self, companion_service: Service, companion_home: Path) -> None:
        assert (companion_home / "history.sqlite3").stat().st_mode & 0o777 == 0o600
        assert companion_home.stat().st_mode & 0o777 == 0o700

    def test_11_a_damaged_row_does_not_break_history_or_show(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        for _ in range(2):
            assert _cardio("record", "--simulate", "--sim-speed", "60", "--no-sync", "--quiet", "--data-dir",
                           str(home), timeout_s=300).returncode == 0
        conn = sqlite3.connect(home / "history.sqlite3")
        with conn:
            conn.execute("UPDATE recordings SET samples = x'00' WHERE id = 1")
        conn.close()
        listing = _cardio("history", "--data-dir", str(home), "--json")
        assert listing.returncode == 0 and "Traceback" not in listing.stderr
        assert {r["id"] for r in json.loads(listing.stdout)} == {1, 2}
        shown = _cardio("show", "1", "--data-dir", str(home))
        assert shown.returncode == 1 and "Traceback" not in shown.stderr and "damaged" in shown.stderr
        assert _cardio("show", "2", "--data-dir", str(home)).returncode == 0

    def test_18_concurrent_first_runs_all_succeed(self, tmp_path: Path) -> None:
        home = tmp_path / "fresh"
        procs = [subprocess.Popen([sys.executable, "-m", "cardio", "history", "--data-dir", str(home)], env=env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], [r[1][-300:] for r in results]

    def test_13_wfdb_header_with_negative_rate_refused(self, tmp_path: Path) -> None:
        from ecg.io import Record, write_wfdb

        hea = write_wfdb(Record(name="neg", signals_mv=np.zeros((9000, 1)), fs_hz=300.0, lead_names=("I",)), tmp_path)
        lines = hea.read_text().splitlines()
        fields = lines[0].split()
        fields[2] = "-300"
        hea.write_text("\n".join([" ".join(fields), *lines[1:]]) + "\n")
        done = _cardio("screen", str(hea), "--json")
        assert done.returncode == 1 and "sample rate" in done.stdout + done.stderr
        assert "250" not in done.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only mount needs root")
def test_20_read_only_data_dir_still_lists_history(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        home = mnt / "home"
        assert _cardio("record", "--simulate", "--sim-speed", "60", "--no-sync", "--quiet", "--data-dir", str(home),
                       timeout_s=300).returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        listing = _cardio("history", "--data-dir", str(home), "--json")
        assert listing.returncode == 0, listing.stderr
        assert len(json.loads(listing.stdout)) == 1
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
