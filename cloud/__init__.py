"""The cloud analysis service (see docs/cloud-api.md): ``cardio-cloud`` and its workers."""

import os

# One BLAS thread per process, set before numpy loads OpenBLAS. The analysis runs many small
# matrix products (beat templates, beat-to-beat similarity); on long recordings OpenBLAS
# otherwise starts its own threads, whose busy-waiting doubles the CPU a record costs
# (`measure` on 10 min of MIT-BIH 100: 160 → 78 CPU ms, outputs identical) and makes the cost
# grow faster than the duration. Servers scale by processes (cloud workers), not BLAS threads.
# An operator's own OPENBLAS_NUM_THREADS wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
