"""Policy YAML: the only package that imports ruamel.yaml (docs/architecture.md, "Layers").

`load` parses a policy file into plain data plus the line of every key; `edit` changes one
strategy's status in the kill-list text without touching any other byte.
"""
