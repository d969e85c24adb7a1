"""`python -m components.dataset`: see main.py."""

import sys

from components.dataset.main import main

sys.exit(main())
