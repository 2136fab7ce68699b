"""The bootstrap program (``bootstrap/``): its stack file's schema, its composition, its outputs."""
