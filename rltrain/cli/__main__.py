"""``python -m rltrain.cli``: how ``accelerate launch`` starts each training rank."""

import sys

from rltrain.cli.app import main

sys.exit(main())
