"""State files as JSON: stable bytes, atomic replacement, one-line errors.

`dumps` sorts keys and indents, so unchanged state is byte-identical and git shows real diffs;
`write_atomic` never leaves a torn file (temp file in the same folder, fsync, rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import msgspec
import numpy as np

from meta_supervisor.core.errors import UserError


def dumps(obj) -> bytes:
    """Stable pretty JSON (sorted keys, 2-space indent, trailing newline) so unchanged state is
    byte-identical and git shows real diffs."""
    return msgspec.json.format(msgspec.json.encode(obj, order="sorted", enc_hook=_numpy), indent=2) + b"\n"


def compact(obj) -> bytes:
    """One-line JSON (a reconciled row), keys in their order."""
    return msgspec.json.encode(obj, enc_hook=_numpy)


def loads(data):
    """Parsed JSON; raises msgspec.DecodeError."""
    return msgspec.json.decode(data)


def _numpy(obj):
    """numpy values in state (model cards) as plain JSON numbers and lists."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` via a temp file in the same folder + rename (never torn).
    Returns False and writes nothing when the content is already identical."""
    path = Path(path)
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_json(path: Path, obj) -> bool:
    return write_atomic(path, dumps(obj))


def read_json(path: Path, default=None, display: str | None = None, schema=None):
    """Parsed JSON of `path`, or `default` when it does not exist; a corrupt file is a UserError.
    With `schema` (a typed description: TypedDicts, lists, dicts of plain types), a file that parses
    but does not match it is a UserError too, naming the first wrong place (`$.pending[3].event`):
    a state file of the wrong shape stops a run with one line, not a traceback deep inside it.
    The parsed document is returned as it is (validation only: fields the schema does not name
    are kept)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return default
    name = display or path
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        raise UserError(f"{name}: not valid JSON ({err})") from None
    except RecursionError:
        raise UserError(f"{name}: not valid JSON (nested too deeply)") from None
    if schema is not None:
        check(doc, schema, name)
    return doc


def check(doc, schema, name) -> None:
    """UserError unless `doc` matches `schema` (see read_json)."""
    try:
        msgspec.convert(doc, schema)
    except msgspec.ValidationError as err:
        raise UserError(
            f"{name}: not a valid state file ({err}); restore it from git (git checkout -- {name})"
        ) from None
