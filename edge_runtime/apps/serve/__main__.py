import sys

from edge_runtime.apps.serve.cli import main

sys.exit(main())
