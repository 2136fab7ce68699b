import sys

from notes_api.server import main

sys.exit(main())
