# Device entry point: wires the front end, the Device and the radio as asyncio tasks.
# Flashed as the board's /main.py (see docs/firmware.md); the rest lives in /firmware/.

import asyncio
import random
import time
from array import array

import bluetooth
import machine

from firmware import config
from firmware.power import battery_percent
from firmware.device import Device, FW_VERSION
from firmware.radio import Radio


def make_front_end():
    if config.FRONT_END == "max30003":
        from firmware.frontend_max30003 import MAX30003

        spi = machine.SPI(
            config.MAX30003_SPI_ID,
            baudrate=config.MAX30003_SPI_BAUD,
            polarity=0,
            phase=0,
            sck=machine.Pin(config.MAX30003_SCK_PIN),
            mosi=machine.Pin(config.MAX30003_MOSI_PIN),
            miso=machine.Pin(config.MAX30003_MISO_PIN),
        )
        cs = machine.Pin(config.MAX30003_CS_PIN, machine.Pin.OUT, value=1)
        return MAX30003(spi, cs, config.MAX30003_GAIN_V_PER_V, fclk_pin=config.MAX30003_FCLK_PIN,
                        holdback_ms=config.MAX30003_HOLDBACK_MS)
    from firmware.frontend_ad8232 import AD8232

    return AD8232(
        config.AD8232_ADC_PIN,
        config.AD8232_LO_PLUS_PIN,
        config.AD8232_LO_MINUS_PIN,
        config.AD8232_SDN_PIN,
        config.AD8232_TIMER_ID,
    )


async def acquire(dev, fe, wdt=None):
    # moves samples from the front end into the session while it wants them; a driver
    # exception ends the session cleanly (end reason "fault") and sampling restarts on
    # the next START; the watchdog is fed only while this loop runs
    buf = array("h", bytes(2 * 64))
    running_hz = 0
    while True:
        if wdt is not None:
            wdt.feed()
        try:
            running_hz = _acquire_once(dev, fe, buf, running_hz)
        except Exception as e:  # noqa: BLE001 - the guard: log, end the session, go on
            print("acquire fault:", repr(e))
            dev.fault()
            try:
                fe.stop()
            except Exception:  # noqa: BLE001
                pass
            running_hz = 0
        await asyncio.sleep_ms(config.ACQUIRE_PERIOD_MS)


def _acquire_once(dev, fe, buf, running_hz):
    dev.tick(time.ticks_ms())
    lost = getattr(fe, "lost", 0)
    if lost:
        fe.lost = 0
        dev.note_lost(lost)
    if dev.acquiring:
        if running_hz != dev.fs_hz:
            if running_hz:
                fe.stop()
            fe.start(dev.fs_hz)
            running_hz = dev.fs_hz
        while dev.acquiring:
            n, lead_off = fe.read(buf)
            if n == 0:
                break
            dev.feed(memoryview(buf)[:n], lead_off)
    elif running_hz:
        fe.stop()
        running_hz = 0
    return running_hz


async def battery(radio):
    adc = machine.ADC(machine.Pin(config.BATTERY_ADC_PIN), atten=machine.ADC.ATTN_11DB)
    while True:
        mv = adc.read_uv() // 1000 * config.BATTERY_DIVIDER
        radio.set_battery(battery_percent(mv))
        await asyncio.sleep(config.BATTERY_PERIOD_S)


def capacity_samples(fe):
    # one recording at the fastest rate the front end offers, allocated once at boot
    return config.CAPACITY_SAMPLES or max(fe.RATES_HZ) * config.DEFAULT_DURATION_S


async def run():
    fe = make_front_end()
    dev = Device.for_front_end(
        fe,
        default_fs_hz=config.DEFAULT_FS_HZ,
        default_duration_s=config.DEFAULT_DURATION_S,
        capacity_samples=capacity_samples(fe),
        settle_ms=config.SETTLE_MS,
        lead_off_abort_ms=config.LEAD_OFF_ABORT_MS,
        wait_timeout_ms=config.WAIT_TIMEOUT_MS,
        first_session_id=random.getrandbits(8),
    )
    radio = Radio(
        bluetooth.BLE(),
        dev,
        config.DEVICE_NAME,
        config.MANUFACTURER,
        config.MODEL,
        "%d.%d" % FW_VERSION,
        mtu=config.BLE_MTU,
        adv_interval_us=config.ADV_INTERVAL_US,
    )
    wdt = machine.WDT(timeout=config.WDT_TIMEOUT_MS) if config.WDT_TIMEOUT_MS else None
    await asyncio.gather(acquire(dev, fe, wdt), radio.run(), battery(radio))


def main():
    # top-level guard: anything that escapes the tasks restarts the board cleanly
    # (machine.reset_cause() == machine.WDT_RESET tells a watchdog restart afterwards)
    try:
        asyncio.run(run())
    except Exception as e:  # noqa: BLE001
        print("fatal:", repr(e))
        time.sleep_ms(100)
        machine.reset()


if __name__ == "__main__":
    main()
