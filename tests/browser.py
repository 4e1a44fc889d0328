"""Headless Chromium (Debian's `chromium`) for the page tests: the DOM after load, and a screenshot.

Offline by construction: every host name resolves to nothing and any proxy is a dead port, so a
page that tried to fetch anything would show it missing. Each call gets its own profile folder
(tests run in parallel). Without chromium on PATH the tests are skipped, unless
META_SUPERVISOR_REQUIRE_BROWSER=1 (set by .ci/run, which installs it), where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--disable-background-networking"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("META_SUPERVISOR_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _run(page: Path, *flags: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                *OFFLINE,
                *flags,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )


def dump_dom(page: Path) -> str:
    return _run(page, "--dump-dom").stdout.decode("utf-8")


def screenshot(page: Path, out: Path, width: int = 1100, height: int = 1600) -> Path:
    _run(page, f"--screenshot={out.resolve()}", f"--window-size={width},{height}", "--hide-scrollbars")
    return out


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed image data): a blank page has a handful."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))
