"""The demo's outputs as a digest: {relative path: sha256} of every file it leaves, plus its stdout.

`python -m tests.demo_digest --write` records the digest in tests/golden/demo_digest.json; the test
(tests/test_demo.py) runs the demo and compares. A change that alters any output byte fails it: a
refactoring must leave the digest alone, and a deliberate change of behaviour rewrites it (and says
so in its commit message).
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests/golden/demo_digest.json"


def _rounded(value):
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _canonical(path: Path) -> bytes:
    """The bytes to hash. Floats in JSON files are compared to 10 significant digits: the BLAS kernel
    numpy picks for the CPU (OpenBLAS dispatches per processor) changes the last bits of a ridge fit,
    and the digest must hold on every machine CI may get, not only on the one that recorded it."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return _rounded_line(data)
    if path.suffix == ".jsonl":  # the demo's inputs hold bad lines on purpose: those stay as they are
        return b"".join(_rounded_line(line) for line in data.splitlines(keepends=True))
    return data


def _rounded_line(text: bytes) -> bytes:
    try:
        return json.dumps(_rounded(json.loads(text))).encode() + (b"\n" if text.endswith(b"\n") else b"")
    except ValueError:
        return text


def digest(root: Path, stdout: str) -> dict[str, str]:
    files = {
        p.relative_to(root).as_posix(): hashlib.sha256(_canonical(p)).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    # stdout names the workspace folder once; the rest of it is the demo's story
    files["<stdout>"] = hashlib.sha256(stdout.replace(str(root), "<root>").encode()).hexdigest()
    return files


def run_demo(root: Path) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/demo.py"), "--root", str(root)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return digest(root, proc.stdout)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        got = run_demo(Path(tmp) / "demo")
    if "--write" in argv:
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN.relative_to(REPO)} ({len(got)} entries)")
        return 0
    want = json.loads(GOLDEN.read_text())
    diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    print("identical" if not diff else "differs: " + ", ".join(diff))
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
