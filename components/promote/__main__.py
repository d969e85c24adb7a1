"""`python -m components.promote`: see main.py."""

import sys

from components.promote.main import main

sys.exit(main())
