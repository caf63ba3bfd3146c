"""Concurrent companions each get their own in-process cloud token (issue 13 #19)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from cardio.local_cloud import local_cloud


async def _status(url: str, token: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/analyses/none", headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status


class TestConcurrentCompanionsKeepTheirTokens:
    async def test_a_second_companion_never_revokes_the_first_ones_token(self, tmp_path: Path) -> None:
        async with local_cloud(tmp_path) as first:
            assert await _status(first.url, first.token) == 404
            async with local_cloud(tmp_path) as second:
                assert second.token == first.token  # one token per data folder, shared
                assert await _status(first.url, first.token) == 404  # not 401
                assert await _status(second.url, second.token) == 404
            assert await _status(first.url, first.token) == 404  # the second one's exit revoked nothing
        token_file = tmp_path / "cloud" / "companion.token"
        assert token_file.stat().st_mode & 0o777 == 0o600

    def test_concurrent_first_runs_agree_on_one_token(self, tmp_path: Path) -> None:
        import os
        import subprocess
        import sys

        repo = Path(__file__).resolve().parents[2]
        code = ("import asyncio, sys; from pathlib import Path; from cardio.local_cloud import local_cloud\n"
                "async def main():\n"
                "    async with local_cloud(Path(sys.argv[1])) as s: print(s.token)\n"
                "asyncio.run(main())")
        env = {**os.environ, "PYTHONPATH": str(repo)}
        procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-500:] for o in outs]
        assert len({o[0].strip() for o in outs}) == 1
