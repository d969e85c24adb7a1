"""`python -m components.evaluate`: see main.py."""

import sys

from components.evaluate.main import main

sys.exit(main())
