"""The pure core: stdlib and numpy only, no I/O (docs/architecture.md, "Layers")."""
