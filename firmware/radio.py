# The radio: adapts a Device to MicroPython's built-in `bluetooth` module (GATT server).
#
# GATT table: ECG service (data: notify; control point: write with response + notify
# for replies; status: read + notify), Device Information (0x180A) and Battery (0x180F).
# The BLE IRQ runs in scheduler context and may interrupt other code between bytecodes,
# so it only queues events; the asyncio task run() does all the work.

import asyncio
import bluetooth

try:
    from micropython import const
except ImportError:  # CPython, for tests with a fake `bluetooth`
    const = lambda x: x  # noqa: E731

from firmware import wire
from firmware.adv import advertising_payload, scan_response

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_BURST = const(8)  # notifications per pass before yielding to other tasks
_PERIOD_MS = const(20)



def _services():
    # the GATT table of firmware/wire.py (the one source), as bluetooth.UUID tuples;
    # wire.PROP_* are the flag values gatts_register_services takes
    return tuple(
        (bluetooth.UUID(svc), tuple((bluetooth.UUID(uuid), props) for uuid, props in chars))
        for svc, chars in wire.GATT_TABLE
    )


class Radio:
    """GATT server around one Device; call ``await radio.run()`` as a task."""

    def __init__(self, ble, device, name, manufacturer, model, fw_revision, mtu=247, adv_interval_us=100000):
        self.device = device
        self._ble = ble
        ble.active(True)
        ble.config(gap_name=name, mtu=mtu)
        ble.irq(self._irq)
        ecg, dis, bas = ble.gatts_register_services(_services())
        self._h_data, self._h_ctrl, self._h_status = ecg
        self._h_battery = bas[0]
        ble.gatts_write(dis[0], manufacturer.encode())
        ble.gatts_write(dis[1], model.encode())
        ble.gatts_write(dis[2], fw_revision.encode())
        ble.gatts_set_buffer(self._h_ctrl, wire.CONTROL_MAX_BYTES)
        ble.gatts_write(self._h_status, device.status())
        self._conn = None
        self._new_conn = False  # connected since the last pump: reset the link state there
        self._payload_max = 20  # ATT_MTU 23 until an exchange says otherwise
        self._writes = []
        self._lost = False
        self._pending = None
        self._wake = None  # asyncio.ThreadSafeFlag, made in run() (MicroPython only)
        self._adv = advertising_payload(wire.ECG_SERVICE_UUID_LE)
        self._resp = scan_response(name)
        self._interval_us = adv_interval_us
        self.advertise()

    def advertise(self):
        self._ble.gap_advertise(self._interval_us, self._adv, resp_data=self._resp)

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            self._conn = data[0]
            self._new_conn = True
            self._payload_max = 20
        elif event == _IRQ_CENTRAL_DISCONNECT:
            self._conn = None
            self._lost = True
            self.advertise()
        elif event == _IRQ_GATTS_WRITE:
            if data[1] == self._h_ctrl and len(self._writes) < 8:
                self._writes.append(bytes(self._ble.gatts_read(self._h_ctrl)))
        elif event == _IRQ_MTU_EXCHANGED:
            self._payload_max = data[1] - 3
        if self._wake is not None:
            self._wake.set()

    def set_battery(self, pct):
        self.device.battery_pct = pct
        self._ble.gatts_write(self._h_battery, bytes((pct,)), True)
        self._ble.gatts_write(self._h_status, self.device.status(), True)

    def _notify(self, handle, data):
        conn = self._conn
        if conn is None:
            return False
        try:
            # the esp32 stub omits conn_handle; the real signature is (conn, handle, data)
            self._ble.gatts_notify(conn, handle, data)  # pyright: ignore[reportCallIssue]
            return True
        except OSError:  # controller out of buffers: retry on the next pass
            return False

    def pump(self):
        """One pass: replies, status, then a burst of data notifications."""
        dev = self.device
        if self._lost:
            self._lost = False
            self._pending = None
            dev.on_disconnect()
        if self._new_conn and self._conn is not None:
            self._new_conn = False
            self._pending = None
            dev.on_connect()  # no data until the central writes (it has subscribed by then)
            try:
                self._ble.gattc_exchange_mtu(self._conn)  # the device asks for its MTU itself
            except (OSError, AttributeError):  # a port without it: the central may still ask
                pass
        while self._writes:
            self._notify(self._h_ctrl, dev.handle_control(self._writes.pop(0)))
        if dev.status_changed():
            self._ble.gatts_write(self._h_status, dev.status(), True)
        for _ in range(_BURST):
            if self._conn is None:
                return
            data = self._pending or dev.next_notification(self._payload_max)
            if data is None:
                return
            if not self._notify(self._h_data, data):
                self._pending = data
                return
            self._pending = None

    async def run(self):
        self._wake = asyncio.ThreadSafeFlag()
        while True:
            self.pump()
            try:
                await asyncio.wait_for_ms(self._wake.wait(), _PERIOD_MS)
            except asyncio.TimeoutError:
                pass
