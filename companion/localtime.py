"""Times for people: the history stores UTC; everything shown to a person is in local time.

The local time zone is the system's (``TZ`` environment variable or ``/etc/localtime``).

Example
-------
>>> import datetime as dt, os, time
>>> os.environ["TZ"] = "Europe/Paris"; time.tzset()
>>> when_text(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
'2026-01-02 04:04 CET'
"""

from __future__ import annotations

import datetime as dt


def to_local(when: dt.datetime) -> dt.datetime:
    """An aware time converted to the local time zone (naive times are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone()


def when_text(when: dt.datetime, *, seconds: bool = False) -> str:
    """``2026-01-02 04:04 CET`` (local time with the zone's abbreviation)."""
    local = to_local(when)
    zone = local.tzname() or local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")) + f" {zone}"


def day_text(when: dt.datetime) -> str:
    """The local calendar day, ``2026-01-02``."""
    return to_local(when).strftime("%Y-%m-%d")
