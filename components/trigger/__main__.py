"""`python -m components.trigger`: see main.py."""

import sys

from components.trigger.main import main

sys.exit(main())
