"""Entry point: ``python -m benchmarks --json FILE ...`` (see :mod:`benchmarks.runner`)."""

import sys

from benchmarks.runner import main

sys.exit(main())
