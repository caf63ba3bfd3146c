"""The bleak backend over Bumble, used through plain BleakScanner/BleakClient."""

from __future__ import annotations

import asyncio
import time

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import establish_connection

from firmware import wire
from simulator.harness import VirtualWorld

DIS_MANUFACTURER = "00002a29-0000-1000-8000-00805f9b34fb"
DIS_FIRMWARE = "00002a26-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"


class TestScan:
    async def test_scan_by_service_uuid_finds_only_the_ecg_device(self) -> None:
        async with VirtualWorld(devices=0) as world:
            real = await world.add_device(name="cardiolink")
            fake = await world.add_device(name="cardiolink", with_ecg_service=False)
            found = await BleakScanner.discover(
                timeout=0.3, service_uuids=[wire.ECG_SERVICE_UUID], return_adv=True, backend=world.scanner_backend
            )
            assert list(found) == [real.address]
            device, adv = found[real.address]
            assert device.name == "cardiolink" and adv.local_name == "cardiolink"
            assert adv.service_uuids == [wire.ECG_SERVICE_UUID]
            everyone = await BleakScanner.discover(timeout=0.3, return_adv=True, backend=world.scanner_backend)
            assert set(everyone) == {real.address, fake.address}
            assert everyone[fake.address][1].local_name == "cardiolink"
            assert everyone[fake.address][1].service_uuids == []

    async def test_find_by_address_and_unknown_address(self) -> None:
        async with VirtualWorld() as world:
            device = await BleakScanner.find_device_by_address(world.address, timeout=2, backend=world.scanner_backend)
            assert device is not None and device.address == world.address
            none = await BleakScanner.find_device_by_address("C0:00:00:00:00:99", timeout=0.2, backend=world.scanner_backend)
            assert none is None


class TestClient:
    async def test_connect_mtu_services_and_reads(self) -> None:
        async with VirtualWorld(battery_pct=64) as world:
            async with BleakClient(world.address, backend=world.client_backend) as client:
                assert client.is_connected and client.mtu_size == 247
                uuids = {s.uuid for s in client.services}
                assert {wire.ECG_SERVICE_UUID, "0000180a-0000-1000-8000-00805f9b34fb", "0000180f-0000-1000-8000-00805f9b34fb"} <= uuids
                ecg = client.services.get_service(wire.ECG_SERVICE_UUID)
                assert ecg is not None
                props = {c.uuid: set(c.properties) for c in ecg.characteristics}
                assert props[wire.DATA_CHAR_UUID] == {"notify"}
                assert props[wire.CONTROL_CHAR_UUID] == {"write", "notify"}
                assert props[wire.STATUS_CHAR_UUID] == {"read", "notify"}
                status = wire.decode_status(bytes(await client.read_gatt_char(wire.STATUS_CHAR_UUID)))
                assert status.state == wire.STATE_IDLE and status.battery_pct == 64
                assert bytes(await client.read_gatt_char(BATTERY_LEVEL)) == bytes([64])
                assert (await client.read_gatt_char(DIS_MANUFACTURER)).decode().startswith("cardiolink")
                assert await client.read_gatt_char(DIS_FIRMWARE) == b"sim"
            assert not client.is_connected

    async def test_forced_mtu_23(self) -> None:
        async with VirtualWorld(mtu=23) as world:
            async with BleakClient(world.address, backend=world.client_backend) as client:
                assert client.mtu_size == 23
                char = client.services.get_characteristic(wire.CONTROL_CHAR_UUID)
                assert char is not None and char.max_write_without_response_size == 20

    async def test_control_point_write_with_response_and_reply_notification(self) -> None:
        async with VirtualWorld() as world:
            async with BleakClient(world.address, backend=world.client_backend) as client:
                replies: asyncio.Queue[bytes] = asyncio.Queue()
                await client.start_notify(wire.CONTROL_CHAR_UUID, lambda _c, d: replies.put_nowait(bytes(d)))
                await client.write_gatt_char(wire.CONTROL_CHAR_UUID, wire.encode_command(wire.OP_GET_INFO, 9), response=True)
                reply = wire.decode_reply(await asyncio.wait_for(replies.get(), 2))
                assert reply.token == 9 and reply.code == wire.OK
                assert reply.fields.protocol_version == wire.PROTOCOL_VERSION
                await client.write_gatt_char(wire.CONTROL_CHAR_UUID, wire.encode_command(wire.OP_GET_RATES, 10), response=True)
                rates = wire.decode_reply(await asyncio.wait_for(replies.get(), 2))
                assert rates.fields.rates_hz == tuple(world.device.core.rates_hz)
                # malformed command: an error reply, the device keeps working
                await client.write_gatt_char(wire.CONTROL_CHAR_UUID, b"\x7f\x01", response=True)
                bad = wire.decode_reply(await asyncio.wait_for(replies.get(), 2))
                assert bad.code == wire.ERR_UNKNOWN_OPCODE
                await client.stop_notify(wire.CONTROL_CHAR_UUID)

    async def test_unknown_address_is_not_found(self) -> None:
        async with VirtualWorld() as world:
            client = BleakClient("C0:00:00:00:00:99", backend=world.client_backend, timeout=0.3)
            with pytest.raises(BleakDeviceNotFoundError):
                await client.connect()

    async def test_operations_when_not_connected_raise_bleak_errors(self) -> None:
        async with VirtualWorld() as world:
            client = BleakClient(world.address, backend=world.client_backend)
            await client.connect()
            char = client.services.get_characteristic(wire.STATUS_CHAR_UUID)
            await world.device.peripheral.disconnect()
            await asyncio.sleep(0.05)
            assert not client.is_connected
            with pytest.raises(BleakError):
                await client.read_gatt_char(char)  # type: ignore[arg-type]


class TestRetryConnectorAndReconnect:
    async def test_establish_connection_disconnect_callback_and_reconnect(self) -> None:
        async with VirtualWorld() as world:
            device = await BleakScanner.find_device_by_address(world.address, timeout=2, backend=world.scanner_backend)
            assert device is not None
            lost = asyncio.Event()
            client = await establish_connection(
                BleakClient, device, "ecg", disconnected_callback=lambda _c: lost.set(), backend=world.client_backend
            )
            assert client.is_connected
            await world.device.peripheral.disconnect()  # the device walks away
            await asyncio.wait_for(lost.wait(), 2)
            assert not client.is_connected
            again = await establish_connection(BleakClient, device, "ecg", backend=world.client_backend)
            assert again.is_connected and world.device.stats.connections == 2
            await again.disconnect()


class TestLatency:
    async def test_round_trip_takes_twice_the_latency(self) -> None:
        async with VirtualWorld(latency_ms=15) as world:
            async with BleakClient(world.address, backend=world.client_backend) as client:
                start = time.perf_counter()
                await client.read_gatt_char(wire.STATUS_CHAR_UUID)
                assert time.perf_counter() - start >= 0.028


class TestLinkDropDuringOperation:
    async def test_an_operation_in_progress_fails_fast_when_the_link_drops(self) -> None:
        # Bumble's subscribe is several ATT requests; after a drop mid-way it would send
        # the next one on the dead link and wait 30 s. The backend abandons it at once.
        async with VirtualWorld() as world:
            client = BleakClient(world.address, backend=world.client_backend)
            await client.connect()
            backend = client._backend  # noqa: SLF001 - the mechanism itself is under test
            never_answered = asyncio.get_running_loop().create_future()
            pending = asyncio.ensure_future(backend._att(never_answered))  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
            start = time.perf_counter()
            await world.device.peripheral.disconnect()
            with pytest.raises(BleakError, match="link dropped"):
                await asyncio.wait_for(pending, 2)
            assert time.perf_counter() - start < 1.0
            assert never_answered.cancelled()


class TestIndications:
    async def test_indication_only_characteristic(self) -> None:
        # GATT Service Changed (0x2A05) is indicate-only: start_notify subscribes to
        # indications and the central confirms each one (the server's await returns)
        async with VirtualWorld() as world:
            async with BleakClient(world.address, backend=world.client_backend) as client:
                got: asyncio.Queue[bytes] = asyncio.Queue()
                await client.start_notify("00002a05-0000-1000-8000-00805f9b34fb", lambda _c, d: got.put_nowait(bytes(d)))
                server = world.device.peripheral.device
                service_changed = server.gatt_service.service_changed_characteristic  # type: ignore[union-attr]
                await asyncio.wait_for(server.indicate_subscribers(service_changed, b"\x01\x00\xff\xff"), 2)
                assert await asyncio.wait_for(got.get(), 2) == b"\x01\x00\xff\xff"
