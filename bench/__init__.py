"""`make bench`: wrk load figures for the notes API next to a bare-framework ceiling."""
