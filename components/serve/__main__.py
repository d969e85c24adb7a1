"""`python -m components.serve`: see main.py."""

import sys

from components.serve.main import main

sys.exit(main())
