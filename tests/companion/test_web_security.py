"""The local web UI against other web pages in the same browser (issue 13 #4, #22).

Each test is named after what it protects.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from companion.config import CompanionConfig
from companion.recording import Recording
from companion.store import Store
from companion.web.app import allowed_hosts_for, create_app, is_loopback_host, page_token
from companion.web.publish import discovery_path, read_discovery, write_discovery

EVIL = "http://evil.example"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    config = CompanionConfig.resolve(data_dir=tmp_path, env={})
    with Store(config.db_path) as store:
        rng = np.random.default_rng(0)
        rid = store.add_recording(Recording(rng.integers(-500, 500, 3000), 300.0, 1000.0, 0, complete=True))
    app = create_app(config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as tc:
        tc.rid = rid  # type: ignore[attr-defined]
        yield tc


def _origin(client: TestClient) -> str:
    return f"http://127.0.0.1:{client.server.port}"


class TestLiveViewOnlyForThisServersPages:
    """#4: a page on another site (or another local port) cannot open the live websocket."""

    async def test_cross_site_websocket_refused(self, client: TestClient) -> None:
        token = page_token(client.app, "live")
        for origin in (EVIL, "http://127.0.0.1:1", "null"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await client.ws_connect("/live/ws", params={"t": token}, headers={"Origin": origin})
            assert info.value.status == 403

    async def test_websocket_needs_the_live_page_token(self, client: TestClient) -> None:
        for params in ({}, {"t": "guess"}, {"t": page_token(client.app, f"recording:{client.rid}")}):  # type: ignore[attr-defined]
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await client.ws_connect("/live/ws", params=params, headers={"Origin": _origin(client)})
            assert info.value.status == 403

    async def test_same_origin_page_with_its_token_connects(self, client: TestClient) -> None:
        page = await (await client.get("/live")).text()
        token = re.search(r'data-token="([^"]+)"', page)[1]  # type: ignore[index]
        async with client.ws_connect("/live/ws", params={"t": token}, headers={"Origin": _origin(client)}) as ws:
            assert not ws.closed


class TestRecordingsCannotBeProbedFromOtherSites:
    """#4: ``<img>``/``fetch`` from another site learns nothing about recordings."""

    @pytest.mark.parametrize("path", ["report.png", "report.pdf", "export/csv", "export/wfdb"])
    async def test_no_token_is_403_whether_or_not_the_recording_exists(self, client: TestClient, path: str) -> None:
        rid = client.rid  # type: ignore[attr-defined]
        existing = await client.get(f"/recordings/{rid}/{path}")
        missing = await client.get(f"/recordings/{rid + 1000}/{path}")
        assert existing.status == missing.status == 403

    async def test_cross_site_fetch_with_token_refused(self, client: TestClient) -> None:
        rid = client.rid  # type: ignore[attr-defined]
        params = {"t": page_token(client.app, f"recording:{rid}")}
        for headers in ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"},
                        {"Sec-Fetch-Site": "same-site"}, {"Origin": EVIL}):
            assert (await client.get(f"/recordings/{rid}/report.png", params=params, headers=headers)).status == 403
        ok = await client.get(f"/recordings/{rid}/report.png", params=params, headers={"Sec-Fetch-Site": "same-origin"})
        assert ok.status == 200 and ok.content_type == "image/png"

    async def test_recording_page_links_carry_its_token(self, client: TestClient) -> None:
        rid = client.rid  # type: ignore[attr-defined]
        page = await (await client.get(f"/recordings/{rid}")).text()
        token = page_token(client.app, f"recording:{rid}")
        for path in ("report.pdf", "export/csv", "export/wfdb"):
            assert f"/recordings/{rid}/{path}?t={token}" in page

    async def test_cross_site_form_post_refused(self, client: TestClient) -> None:
        rid = client.rid  # type: ignore[attr-defined]
        resp = await client.post(f"/recordings/{rid}/delete", data={"confirm": "yes", "csrf": "x"},
                                 headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
        assert resp.status == 403

    async def test_plain_link_from_another_site_still_opens_the_history(self, client: TestClient) -> None:
        resp = await client.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
                                              "Sec-Fetch-Dest": "document"})
        assert resp.status == 200


class TestHostCheckAndIds:
    """#22: any loopback bind keeps the Host check; huge ids are 404, not 500."""

    def test_every_loopback_address_is_loopback(self) -> None:
        assert all(is_loopback_host(h) for h in ("127.0.0.1", "127.0.0.2", "127.255.0.9", "::1", "[::1]", "localhost"))
        assert not any(is_loopback_host(h) for h in ("evil.example", "10.0.0.1", "127.0.0.1.evil.example", ""))

    def test_loopback_bind_keeps_the_host_check(self) -> None:
        assert allowed_hosts_for("127.0.0.2")  # non-empty: the check stays on
        assert allowed_hosts_for("192.168.1.5") == frozenset({"192.168.1.5"})

    async def test_bound_to_127_0_0_2_refuses_a_foreign_host(self, tmp_path: Path) -> None:
        config = CompanionConfig.resolve(data_dir=tmp_path, env={})
        app = create_app(config, allowed_hosts=allowed_hosts_for("127.0.0.2"))
        async with TestClient(TestServer(app, host="127.0.0.1")) as tc:
            assert (await tc.get("/", headers={"Host": "evil.example"})).status == 421
            assert (await tc.get("/", headers={"Host": "127.0.0.2:8765"})).status == 200

    @pytest.mark.parametrize("path", ["/recordings/{n}", "/recordings/{n}/report.png", "/recordings/{n}/export/csv"])
    @pytest.mark.parametrize("n", [str(2**63), "9" * 19, "9" * 400])
    async def test_huge_recording_id_is_404(self, client: TestClient, path: str, n: str) -> None:
        assert (await client.get(path.format(n=n))).status == 404


class TestDiscoveryFilePerServer:
    """#22: a second ``cardio serve`` never overwrites or deletes the first one's discovery file."""

    def test_each_server_has_its_own_file(self, tmp_path: Path) -> None:
        mine = write_discovery(tmp_path, "http://127.0.0.1:1111", "tok-mine")
        other = discovery_path(tmp_path, pid=os.getppid())  # a live process standing in for another server
        other.write_text(f'{{"url": "http://127.0.0.1:2222", "publish_token": "tok-other", "pid": {os.getppid()}}}')
        os.utime(other, (1, 1))  # started earlier
        assert mine != other and (mine.stat().st_mode & 0o777) == 0o600
        assert (mine.parent.stat().st_mode & 0o777) == 0o700
        assert read_discovery(tmp_path) == ("http://127.0.0.1:1111", "tok-mine")
        mine.unlink()  # this server stops: the other one is still found
        assert read_discovery(tmp_path) == ("http://127.0.0.1:2222", "tok-other")

    def test_file_of_a_dead_server_is_ignored(self, tmp_path: Path) -> None:
        dead = discovery_path(tmp_path, pid=2**22 + 12345)
        dead.parent.mkdir(parents=True)
        dead.write_text(f'{{"url": "http://127.0.0.1:3333", "publish_token": "t", "pid": {2**22 + 12345}}}')
        assert read_discovery(tmp_path) is None
