# Pins and rates of the cardiolink board (ESP32 DevKitC wiring; edit for your board).

FRONT_END = "ad8232"  # "ad8232" or "max30003"
DEVICE_NAME = "cardiolink"
MANUFACTURER = "cardiolink project"
MODEL = "cardiolink-esp32"

# recording
DEFAULT_FS_HZ = 300  # AD8232: 250/300/500; MAX30003: 128/256/512 (use 256)
DEFAULT_DURATION_S = 30
CAPACITY_SAMPLES = 0  # 0: sized at boot to the front end's highest rate x DEFAULT_DURATION_S (AD8232: 15,000 = 30 kB)
SETTLE_MS = 500  # contact must hold this long before samples count
LEAD_OFF_ABORT_MS = 5000  # contact lost longer than this aborts the recording
WAIT_TIMEOUT_MS = 60000  # no contact this long after START -> back to idle
ACQUIRE_PERIOD_MS = 20  # how often samples move from the front end to the session
WDT_TIMEOUT_MS = 8000  # machine.WDT: no acquire-loop pass for this long resets the board (0 = off)

# AD8232 (analog): OUTPUT on an ADC1 pin (ADC2 is unusable while the radio is on)
AD8232_ADC_PIN = 34
AD8232_LO_PLUS_PIN = 32
AD8232_LO_MINUS_PIN = 33
AD8232_SDN_PIN = 25
AD8232_TIMER_ID = 0

# MAX30003 (SPI, VSPI pins)
MAX30003_SPI_ID = 2
MAX30003_SCK_PIN = 18
MAX30003_MOSI_PIN = 23
MAX30003_MISO_PIN = 19
MAX30003_CS_PIN = 5
MAX30003_SPI_BAUD = 4000000  # datasheet allows up to 12 MHz
MAX30003_GAIN_V_PER_V = 20
MAX30003_FCLK_PIN = 26  # PWM 32.768 kHz into FCLK (FMSTR = 00); nothing else makes it
MAX30003_HOLDBACK_MS = 125  # > the ~115 ms DC lead-off detection latency at 10 nA

# battery: LiPo through a 1:2 divider on an ADC1 pin
BATTERY_ADC_PIN = 35
BATTERY_DIVIDER = 2
BATTERY_PERIOD_S = 60

# radio
BLE_MTU = 247
ADV_INTERVAL_US = 100000
