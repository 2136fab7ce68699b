"""The notes-platform CrossGuard policy pack (see PulumiPolicy.yaml and __main__.py).

As a package it gives the repository ``policies.notes_policies`` (the rules) and
``policies.offline`` (the pack run against a recorded plan, without the engine).
"""
