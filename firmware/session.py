# Recording session state machine, as a table (pure; MicroPython and CPython).
#
#   idle --START--> waiting --contact settled--> recording --duration reached--> complete
#                     |                            |   ^
#                     | STOP / no contact in time  |   | contact settled again
#                     v                            v   |
#                   idle                          paused --lead off too long--> aborted
#   STOP while recording or paused -> complete (end reason "stopped")
#   START from idle, complete or aborted begins a new recording (the old one is dropped).
#   A fault (stalled front end, full frame index, driver exception) ends waiting in idle
#   and recording/paused in aborted (end reason "fault"); what was recorded is kept.
#
# Lead-off policy: losing contact pauses the recording (samples taken without contact
# are not stored); the first frame after contact returns carries FLAG_LEAD_OFF to mark
# the discontinuity. Contact lost for longer than lead_off_abort_ms aborts the
# recording; what was recorded stays available for resends. "Too long" counts the whole
# pause (brief contacts shorter than the settle time do not restart it).

try:
    from micropython import const
except ImportError:  # CPython

    const = lambda x: x  # noqa: E731


from firmware.wire import (
    STATE_IDLE,
    STATE_WAITING,
    STATE_RECORDING,
    STATE_PAUSED,
    STATE_COMPLETE,
    STATE_ABORTED,
    STATE_NAMES,
)

EV_START = const(0)
EV_STOP = const(1)
EV_CONTACT = const(2)  # contact present and settled
EV_LEAD_OFF = const(3)  # contact lost
EV_FULL = const(4)  # requested duration recorded
EV_LEAD_OFF_TIMEOUT = const(5)
EV_WAIT_TIMEOUT = const(6)
EV_FAULT = const(7)  # front end stalled, frame index full, or an exception in a driver
EVENT_NAMES = ("start", "stop", "contact", "lead_off", "full", "lead_off_timeout", "wait_timeout", "fault")

# (state, event) -> next state. Anything not listed is refused and changes nothing.
TRANSITIONS = {
    (STATE_IDLE, EV_START): STATE_WAITING,
    (STATE_COMPLETE, EV_START): STATE_WAITING,
    (STATE_ABORTED, EV_START): STATE_WAITING,
    (STATE_WAITING, EV_CONTACT): STATE_RECORDING,
    (STATE_WAITING, EV_STOP): STATE_IDLE,
    (STATE_WAITING, EV_WAIT_TIMEOUT): STATE_IDLE,
    (STATE_RECORDING, EV_LEAD_OFF): STATE_PAUSED,
    (STATE_RECORDING, EV_FULL): STATE_COMPLETE,
    (STATE_RECORDING, EV_STOP): STATE_COMPLETE,
    (STATE_PAUSED, EV_CONTACT): STATE_RECORDING,
    (STATE_PAUSED, EV_STOP): STATE_COMPLETE,
    (STATE_PAUSED, EV_LEAD_OFF_TIMEOUT): STATE_ABORTED,
    (STATE_WAITING, EV_FAULT): STATE_IDLE,
    (STATE_RECORDING, EV_FAULT): STATE_ABORTED,
    (STATE_PAUSED, EV_FAULT): STATE_ABORTED,
}

# states in which the front end must deliver samples
ACQUIRING = (STATE_WAITING, STATE_RECORDING, STATE_PAUSED)
# states with a finished recording
FINISHED = (STATE_COMPLETE, STATE_ABORTED)


class Session:
    """Holds the current state; ``fire(event)`` moves by the table or returns False."""

    def __init__(self):
        self.state = STATE_IDLE

    def can(self, event):
        return (self.state, event) in TRANSITIONS

    def fire(self, event):
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            return False
        self.state = nxt
        return True

    def name(self):
        return STATE_NAMES[self.state]
