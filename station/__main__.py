"""``python -m station`` runs the station command line."""

import sys

from station.cli import main

sys.exit(main())
