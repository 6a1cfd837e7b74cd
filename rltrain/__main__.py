import sys

from rltrain.cli import main

sys.exit(main())
