"""``python -m aopflow``: the ``aopflow`` command (see :mod:`aopflow.cli`)."""

import sys

from aopflow.cli import main

sys.exit(main())
