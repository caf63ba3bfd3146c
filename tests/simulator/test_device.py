"""The simulated device end to end: firmware core + front end + Bumble radio + faults."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from bleak import BleakClient

from firmware import wire
from simulator.errors import SimulatorUsageError
from simulator.frontend import mv_to_counts
from simulator.harness import VirtualWorld
from simulator.probe import record_once
from simulator.sources import parse_source


async def _record(world: VirtualWorld, duration_s: int = 30, fs_hz: int = 300):
    return await record_once(
        world.address,
        client_backend=world.client_backend,
        scanner_backend=world.scanner_backend,
        duration_s=duration_s,
        fs_hz=fs_hz,
        timeout_s=60,
    )


class TestRecording:
    async def test_full_30_s_recording_at_high_speed_is_bit_exact(self) -> None:
        async with VirtualWorld(source="synthetic:normal?seed=7", speed=60) as world:
            result = await _record(world)
            recorded = world.device.recorded_samples()
            assert len(recorded) == 30 * 300
            assert result.verified and result.samples == recorded
            assert result.mtu == 247 and result.reconnects == 0 and result.resend_requests == 0
            assert world.device.state_name == "complete"
            assert world.device.stats.frames_dropped == 0

    async def test_recorded_stream_is_the_source_through_the_adc(self) -> None:
        # independent of the device: render the source and convert it ourselves
        async with VirtualWorld(source="synthetic:af?seed=3", speed=60) as world:
            result = await _record(world, duration_s=10, fs_hz=250)
            core = world.device.core
            expected = mv_to_counts(
                parse_source("synthetic:af?seed=3").render(120.0, 250.0).signal_mv,
                core.gain_counts_per_mv,
                core.baseline,
                core.adc_bits,
            ).tolist()
            settle = int(core.settle_ms * 250 / 1000)
            assert result.samples == expected[settle : settle + 2500]
            assert result.info.adc_bits == core.adc_bits and result.info.max_samples == core.rec.capacity

    async def test_replayed_record(self, cinc2017_fixture) -> None:
        path, _ = cinc2017_fixture["A00004"]
        async with VirtualWorld(source=str(path), speed=60) as world:
            result = await _record(world, duration_s=10, fs_hz=300)
            assert result.verified and len(result.samples) == 3000
            # samples are the record in ADC counts around the device's baseline
            mean_mv = (np.mean(result.samples) - world.device.core.baseline) / world.device.core.gain_counts_per_mv
            assert abs(mean_mv) < 0.5


class TestFaults:
    async def test_drops_and_disconnects_are_recovered_bit_for_bit_at_mtu_23(self) -> None:
        async with VirtualWorld(
            source="synthetic:pvc?seed=2", speed=30, mtu=23, drop_fraction=0.05, disconnect_at_s=[8, 19], seed=1
        ) as world:
            result = await _record(world)
            stats = world.device.stats
            assert stats.frames_dropped > 10  # 5 % of some 700 frames
            assert stats.disconnects_injected == 2 and stats.connections == 3
            assert result.reconnects >= 1 and result.resend_requests > 0 and result.mtu == 23
            assert result.verified and result.samples == world.device.recorded_samples()
            assert len(result.samples) == 9000

    async def test_recording_continues_while_disconnected(self) -> None:
        async with VirtualWorld(speed=60, disconnect_at_s=[2]) as world:
            client = BleakClient(world.address, backend=world.client_backend)
            await client.connect()
            await client.start_notify(wire.DATA_CHAR_UUID, lambda _c, _d: None)
            await client.write_gatt_char(
                wire.CONTROL_CHAR_UUID, wire.encode_command(wire.OP_START, 1, 10, 300), response=True
            )
            await world.device.wait_for_state("complete", timeout_s=20)
            assert not client.is_connected  # the device dropped the link at 2 s ...
            assert len(world.device.recorded_samples()) == 3000  # ... and kept recording

    async def test_drop_fraction_is_seeded(self) -> None:
        async def dropped(seed: int) -> int:
            async with VirtualWorld(speed=60, drop_fraction=0.2, seed=seed) as world:
                await _record(world, duration_s=10)
                return world.device.stats.frames_dropped

        first, again = await asyncio.gather(dropped(5), dropped(5))
        assert first == again > 0

    async def test_lead_off_pauses_and_flags_the_next_frame(self) -> None:
        async with VirtualWorld(source="synthetic:normal?off=4:5", speed=60) as world:
            result = await _record(world, duration_s=10)
            assert result.verified and len(result.samples) == 3000
            assert result.lead_off_frames == 1
            states = [text for _, text in world.device.stats.events if text.startswith("state")]
            assert any("paused" in s for s in states)

    def test_bad_options_fail_early(self) -> None:
        with pytest.raises(SimulatorUsageError):
            VirtualWorld(drop_fraction=1.5)
        with pytest.raises(SimulatorUsageError):
            VirtualWorld(mtu=10)
        with pytest.raises(SimulatorUsageError):
            VirtualWorld(speed=0)
