"""`python -m components.preprocess`: see main.py."""

import sys

from components.preprocess.main import main

sys.exit(main())
