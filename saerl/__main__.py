import sys

from saerl.cli import main

sys.exit(main())
