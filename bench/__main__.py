"""``python -m bench [--quick] [--no-torch] [--rounds N]``"""

import sys

from .report import main

sys.exit(main())
