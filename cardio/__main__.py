"""``python -m cardio ...`` is the same as ``cardio ...``."""

import sys

from cardio.cli.main import main

sys.exit(main())
