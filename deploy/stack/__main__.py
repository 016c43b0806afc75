"""Entry point for ``python -m deploy.stack``."""

import sys

from deploy.stack.cli import main

sys.exit(main())
