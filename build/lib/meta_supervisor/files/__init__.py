"""The local disk: state files, the reconciled history, inputs, policy YAML (docs/architecture.md)."""
