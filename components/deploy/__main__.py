"""`python -m components.deploy`: see main.py."""

import sys

from components.deploy.main import main

sys.exit(main())
