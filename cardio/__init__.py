"""The ``cardio`` command: where the companion, the simulator and the cloud are wired together.

``companion``, ``cloud`` and ``simulator`` never import each other (``tests/test_layout.py``
enforces it); this package does the wiring: the CLI (:mod:`cardio.cli`), the simulated
radio (:mod:`cardio.simulate`) and the in-process loopback cloud
(:mod:`cardio.local_cloud`).
"""

import os

# One BLAS thread per process, set before numpy loads OpenBLAS. The analysis runs many small
# matrix products (beat templates, beat-to-beat similarity); on long recordings OpenBLAS
# otherwise starts its own threads, whose busy-waiting doubles the CPU a record costs
# (`measure` on 10 min of MIT-BIH 100: 160 → 78 CPU ms, outputs identical) and makes the cost
# grow faster than the duration. Servers scale by processes (cloud workers), not BLAS threads.
# An operator's own OPENBLAS_NUM_THREADS wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
