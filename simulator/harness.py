"""A virtual world to test against: simulated device(s) and a phone on one Bumble link.

API (stable; the companion and its tests code against it)::

    from bleak import BleakClient, BleakScanner
    from simulator.harness import VirtualWorld

    async with VirtualWorld(source="synthetic:normal", speed=30) as world:
        device = await BleakScanner.find_device_by_address(
            world.address, backend=world.scanner_backend)
        async with BleakClient(device, backend=world.client_backend) as client:
            ...                                   # ordinary bleak calls, real ATT
        world.device.recorded_samples()           # the exact ADC stream recorded

``VirtualWorld(**options)`` -- every option keyword-only:

``source``            spec string (``synthetic:normal``, ``synthetic:af?hr=90&seed=2``,
                      ``PATH``) or a ``simulator.sources.Source`` object
``speed``             simulated-time factor (1 = real time, 30 = 30 s per second)
``mtu``               largest ATT MTU the device accepts (23 forces the minimum)
``drop_fraction``     fraction of data frames the device's radio drops (seeded)
``drop_resends``      also drop re-sent frames (default False)
``disconnect_at_s``   recording times (s) at which the device drops the link
``latency_ms``        one-way delay of every ACL packet on the link
``seed``              seed of the fault decisions
``name``, ``address`` advertised name and Bluetooth address of the device
``with_ecg_service``  False: a look-alike with the name but no ECG service
``battery_pct``       battery level the device reports
``core_options``      extra ``firmware.device.Device`` arguments (rates, timeouts...)
``on_event``          ``callable(sim_time_s, text)`` told about device events

Exposed: ``client_backend`` / ``scanner_backend`` (pass as bleak's ``backend=``, also
through ``bleak_retry_connector.establish_connection(..., backend=...)``),
``device`` (:class:`~simulator.device.SimulatedDevice`: ``address``, ``name``,
``core``, ``stats``, ``recorded_samples()``, ``wait_for_state()``), ``address``,
``name``, ``devices`` and ``add_device(**options)`` for more devices on the same link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from simulator.bleak_backend import VirtualCentral, make_backends
from simulator.bleak_backend.client import SimBleakClient
from simulator.bleak_backend.scanner import SimBleakScanner
from simulator.device import Faults, SimulatedDevice
from simulator.errors import SimulatorUsageError
from simulator.link import VirtualLink
from simulator.peripheral import DEFAULT_MAX_MTU, DeviceIdentity
from simulator.sources import Source, parse_source

__all__ = ["VirtualWorld", "SimulatedDevice"]

_log = logging.getLogger(__name__)


def _address_for(index: int) -> str:
    return f"C0:DE:CA:4D:00:{index + 1:02X}"


class VirtualWorld:
    """Async context manager owning the link, the phone (central) and the devices.

    See the module docstring for the options. With ``devices=0`` no device is created
    (add them with :meth:`add_device`).
    """

    def __init__(
        self,
        *,
        source: str | Source = "synthetic:normal",
        speed: float = 1.0,
        mtu: int = DEFAULT_MAX_MTU,
        drop_fraction: float = 0.0,
        drop_resends: bool = False,
        disconnect_at_s: Sequence[float] = (),
        latency_ms: float = 0.0,
        seed: int = 0,
        name: str | None = None,
        address: str | None = None,
        with_ecg_service: bool = True,
        battery_pct: int = 87,
        core_options: dict[str, object] | None = None,
        on_event: Callable[[float, str], None] | None = None,
        devices: int = 1,
    ) -> None:
        if latency_ms < 0:
            raise SimulatorUsageError("latency_ms must be >= 0", option="latency_ms")
        if devices < 0:
            raise SimulatorUsageError("devices must be >= 0", option="devices")
        self.latency_ms = latency_ms
        self._first_options: dict[str, object] = dict(
            source=source,
            speed=speed,
            mtu=mtu,
            drop_fraction=drop_fraction,
            drop_resends=drop_resends,
            disconnect_at_s=disconnect_at_s,
            seed=seed,
            name=name,
            address=address,
            with_ecg_service=with_ecg_service,
            battery_pct=battery_pct,
            core_options=core_options,
            on_event=on_event,
        )
        self._n_initial = devices
        self.devices: list[SimulatedDevice] = []
        self._link: VirtualLink | None = None
        self._central: VirtualCentral | None = None
        self._client_backend: type[SimBleakClient] | None = None
        self._scanner_backend: type[SimBleakScanner] | None = None
        # validate now, so a bad option fails at construction, not inside the loop
        self._build_options(dict(self._first_options))

    # ---- exposed --------------------------------------------------------------------
    @property
    def client_backend(self) -> type[SimBleakClient]:
        """bleak client backend class (``BleakClient(..., backend=world.client_backend)``)."""
        if self._client_backend is None:
            raise SimulatorUsageError("enter the VirtualWorld (async with) first")
        return self._client_backend

    @property
    def scanner_backend(self) -> type[SimBleakScanner]:
        """bleak scanner backend class (``BleakScanner(..., backend=world.scanner_backend)``)."""
        if self._scanner_backend is None:
            raise SimulatorUsageError("enter the VirtualWorld (async with) first")
        return self._scanner_backend

    @property
    def device(self) -> SimulatedDevice:
        """The first device."""
        if not self.devices:
            raise SimulatorUsageError("this world has no device yet")
        return self.devices[0]

    @property
    def address(self) -> str:
        """Address of the first device."""
        return self.device.address

    @property
    def name(self) -> str:
        """Advertised name of the first device."""
        return self.device.name

    # ---- building -------------------------------------------------------------------
    def _build_options(self, options: dict[str, object]) -> dict[str, object]:
        index = len(self.devices)
        source = options.pop("source", "synthetic:normal")
        source_obj = parse_source(source) if isinstance(source, str) else source
        try:
            faults = Faults(
                drop_fraction=float(options.pop("drop_fraction", 0.0)),  # type: ignore[arg-type]
                drop_resends=bool(options.pop("drop_resends", False)),
                disconnect_at_s=tuple(float(t) for t in options.pop("disconnect_at_s", ())),  # type: ignore[attr-defined]
                seed=int(options.pop("seed", 0)),  # type: ignore[call-overload]
            )
        except ValueError as exc:
            raise SimulatorUsageError(str(exc), option="faults") from None
        speed = float(options.pop("speed", 1.0))  # type: ignore[arg-type]
        if not speed > 0:
            raise SimulatorUsageError("speed must be > 0", option="speed")
        mtu = int(options.pop("mtu", DEFAULT_MAX_MTU))  # type: ignore[call-overload]
        if not 23 <= mtu <= 517:
            raise SimulatorUsageError("mtu must be between 23 and 517", option="mtu")
        battery_pct = int(options.pop("battery_pct", 87))  # type: ignore[call-overload]
        if not 0 <= battery_pct <= 100:
            raise SimulatorUsageError("battery_pct must be between 0 and 100", option="battery_pct")
        identity = DeviceIdentity(
            name=str(options.pop("name", None) or DeviceIdentity.name),
            address=str(options.pop("address", None) or _address_for(index)),
        )
        built = dict(
            source=source_obj,
            identity=identity,
            speed=speed,
            max_mtu=mtu,
            faults=faults,
            with_ecg_service=bool(options.pop("with_ecg_service", True)),
            battery_pct=battery_pct,
            core_options=options.pop("core_options", None),
            on_event=options.pop("on_event", None),
        )
        if options:
            raise SimulatorUsageError(f"unknown option(s): {', '.join(sorted(options))}")
        return built

    async def add_device(self, **options: object) -> SimulatedDevice:
        """Add and start one more device on the link (same options as the world's).

        Returns
        -------
        SimulatedDevice
        """
        if self._link is None:
            raise SimulatorUsageError("enter the VirtualWorld (async with) first")
        built = self._build_options(dict(options))
        device = SimulatedDevice(self._link, **built)  # type: ignore[arg-type]
        self.devices.append(device)
        await device.start()
        return device

    # ---- context manager ------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._link = VirtualLink(self.latency_ms)
        self._central = VirtualCentral(self._link)
        await self._central.power_on()
        self._client_backend, self._scanner_backend = make_backends(self._central)
        try:
            for _ in range(self._n_initial):
                await self.add_device(**self._first_options)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop every device and the phone; pending packets are dropped."""
        for device in self.devices:
            try:
                await device.stop()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                _log.debug("device stop failed", exc_info=True)
        if self._central is not None:
            for connection in list(self._central.device.connections.values()):
                try:
                    await connection.disconnect()
                except Exception:  # noqa: BLE001
                    _log.debug("central disconnect failed", exc_info=True)
        # let in-flight HCI packets settle before the loop goes away
        await asyncio.sleep(0.02)
        if self._link is not None:
            self._link.close()
