import sys

from notes_api.worker.main import main

sys.exit(main())
