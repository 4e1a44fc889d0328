"""One orchestrator per verb: load -> compute -> decide -> act (docs/architecture.md)."""
