"""`python -m allspark ...` runs the `allspark` command line."""

import sys

from .cli import main

sys.exit(main())
