"""Day-2 operations the `notes-platform` commands perform against a running stack: repointing the
app's database secret after a restore, rotating the cache AUTH token through the stack file."""
