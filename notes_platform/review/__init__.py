"""Review a change: triage `pulumi preview --json` steps, or the difference between two offline
plans, into what needs explicit approval, what deserves a look and what is routine."""
