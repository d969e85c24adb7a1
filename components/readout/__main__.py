"""`python -m components.readout`: see main.py."""

import sys

from components.readout.main import main

sys.exit(main())
