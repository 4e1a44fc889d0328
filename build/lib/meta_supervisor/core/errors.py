"""The two tiers of failure (docs/architecture.md, "Errors and exit codes").

`UserError` is an expected problem (bad policy file, missing secret, empty data): the CLI prints its
message as one line and exits 1. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """An expected, actionable problem; `str(err)` is the one line shown to the user."""


class ConfigError(UserError):
    """A policy/config value is wrong. `keypath` locates it inside the document so a shell that
    knows line numbers (policy_yaml) can turn it into `file:line: message`."""

    def __init__(self, keypath: tuple, message: str):
        self.keypath = tuple(keypath)
        self.message = message
        where = ".".join(str(k) for k in self.keypath) or "<document>"
        super().__init__(f"{where}: {message}")
