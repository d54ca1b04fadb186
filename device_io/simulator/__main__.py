"""``python -m device_io.simulator``: the same as ``station simulate``."""

import sys

from device_io.simulator.cli import main

sys.exit(main(sys.argv[1:]))
