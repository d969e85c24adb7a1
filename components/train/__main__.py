"""`python -m components.train`: see main.py."""

import sys

from components.train.main import main

sys.exit(main())
