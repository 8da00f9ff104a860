"""`python -m m365apk`: the same command line as the `m365apk` script."""

import sys

from m365apk.cli import main

sys.exit(main())
