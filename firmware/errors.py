# The firmware package's one base error (pure; MicroPython and CPython).
# MicroPython allows a single built-in exception base, so it is a ValueError: every
# firmware error is about bytes or values that are not what they must be.


class FirmwareError(ValueError):
    """Base of every error raised by firmware modules."""
