"""The ``notes-platform`` command and everything that inspects a stack without deploying it.

The Pulumi program (``stacks/``, ``infra/``) and the policy pack (``policies/``) never import
from here: this package reads them, the other way round.

- ``cli``: the subcommand table; each command's module is imported only when it runs.
- ``commands/``: one module per subcommand (``plan``, ``config``).
- ``graph/``: the program run under Pulumi's mocks and the recorded resource graph.
- ``checks/``: what is checked on a recorded graph: the AWS API models (``apimodels``) and
  the CrossGuard pack run without the engine (``policy_pack``).
"""
