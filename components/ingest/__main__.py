"""`python -m components.ingest`: see main.py."""

import sys

from components.ingest.main import main

sys.exit(main())
