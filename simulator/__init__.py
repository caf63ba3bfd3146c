"""A cardiolink device without hardware (see docs/simulator.md).

The firmware's own core (``firmware.device``) driven by a simulated front end and
clock, served by a Bumble GATT server on an in-process virtual link, and reached by the
companion through a bleak backend of ours. Entry points: ``simulator.harness.VirtualWorld``
for tests and the companion's ``--simulate``, ``simulator.sources.parse_source`` for ECG
sources, and the ``cardio-sim`` command (``simulator.cli``).
"""
