"""meta-supervisor: a GitOps supervisor for a fleet of trading agents.

The folders are the layers (docs/architecture.md): `core/` is pure (numbers and rules, no I/O),
`files/` reads and writes the local disk, `adapters/` talk to GitHub, SendGrid and the Actions
runner, `jobs/` hold one orchestrator per verb, and `cli.py` the error policy.
"""

__version__ = "0.5.0"
