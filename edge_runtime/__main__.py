import sys

from edge_runtime.apps.classify import main

sys.exit(main())
