"""The Pulumi program: `pulumi up -s staging|prod`. Everything lives in stacks/ and infra/."""

from stacks import app

app.build(app.config_from_pulumi())
