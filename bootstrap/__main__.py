"""The bootstrap program: `pulumi up -s bootstrap` in this folder, once per AWS account.

Everything lives in stacks/bootstrap/ and infra/bootstrap/, importable from the repository's
.venv (Pulumi.yaml names it), where the project is installed in editable mode.
"""

from stacks.bootstrap import app

app.export(app.build(app.config_from_pulumi()))
