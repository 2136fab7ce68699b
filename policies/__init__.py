"""The notes-platform CrossGuard policy pack (see PulumiPolicy.yaml and __main__.py).

As a package it gives the repository ``policies.notes_policies`` (the rules) and ``config/``
(each stack's rule settings). The pack imports nothing from the program or the tooling; the
offline evaluator that runs it against a recorded plan is ``notes_platform.checks.policy_pack``.
"""
