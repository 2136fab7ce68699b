"""Promoting the image that passed staging to prod: the records stages hand each other, the gates,
the digest-preserving copy and the stack file edit (``notes-platform promote``)."""
