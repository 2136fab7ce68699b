"""What must exist before the environment stacks: state backend, GitHub OIDC, the CI roles."""
