import sys

from components.record.main import main

sys.exit(main())
