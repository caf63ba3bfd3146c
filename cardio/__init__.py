"""The ``cardio`` command: where the companion, the simulator and the cloud are wired together.

``companion``, ``cloud`` and ``simulator`` never import each other (``tests/test_layout.py``
enforces it); this package does the wiring: the CLI (:mod:`cardio.cli`), the simulated
radio (:mod:`cardio.simulate`) and the in-process loopback cloud
(:mod:`cardio.local_cloud`).
"""
