"""The pack as the Pulumi engine runs it: `pulumi preview --policy-pack policies
--policy-pack-config policies/config/<stack>.json`.

The engine runs this directory's ``__main__`` with the directory on ``sys.path``, hence the
top-level import of ``notes_policies``. Constructing ``PolicyPack`` starts the analyzer's gRPC
server and never returns: nothing else may import this module.
"""

from notes_policies import PACK_NAME, all_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=all_policies(),
    # Each policy names its own level; this is the fallback for one that does not.
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Security, durability and operability rules for the notes platform's AWS stacks.",
)
