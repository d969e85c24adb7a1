"""`python -m components.monitor`: see main.py."""

import sys

from components.monitor.main import main

sys.exit(main())
