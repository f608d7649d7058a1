"""Real operating-system conditions for the hostile suite: running commands to signal them, small and read-only
mounts, and a root that has lost its power to write anywhere (the suite runs as root in CI, where chmod alone
stops nothing)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.conftest import ROOT, Result

# A root process without these capabilities obeys file modes like any user (setpriv ships with util-linux).
NO_ROOT_POWERS = ["setpriv", "--inh-caps=-dac_override,-dac_read_search,-fowner",
                  "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def cli_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def spawn_cli(*args: str, module: str = "engine.cli") -> subprocess.Popen:
    """Start `gan-prune ARGS` and return at once, to signal it or race it."""
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env())


def finish(p: subprocess.Popen, timeout: float = 120) -> Result:
    out, err = p.communicate(timeout=timeout)
    return Result(p.returncode, out, err)


def stage_status(ws: Path, stage: str) -> str | None:
    try:
        return (json.loads((Path(ws) / "manifest.json").read_text())["stages"].get(stage) or {}).get("status")
    except (OSError, ValueError, KeyError):
        return None  # mid-replace or not there yet


def wait_for_status(ws: Path, stage: str, status: str, p: subprocess.Popen | None = None,
                    timeout: float = 90) -> None:
    """Poll the manifest until the stage says `status` (the writer is past its input checks and holds the lock)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if stage_status(ws, stage) == status:
            return
        if p is not None and p.poll() is not None:
            raise AssertionError(f"the command ended (exit {p.returncode}) before {stage} was {status}: "
                                 f"{p.stderr.read() if p.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError(f"{stage} never became {status}")


def run_powerless(*args: str, module: str = "engine.cli", timeout: float = 120) -> Result:
    """Run a command as root without the capabilities that ignore file modes."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed, so root cannot be made to obey file modes")
    p = subprocess.run([*NO_ROOT_POWERS, sys.executable, "-m", module, *args], capture_output=True, text=True,
                       timeout=timeout, env=cli_env())
    return Result(p.returncode, p.stdout, p.stderr)


def needs_root_without_powers() -> None:
    if os.geteuid() != 0:
        return  # an ordinary user obeys file modes already
    probe = subprocess.run([*NO_ROOT_POWERS, "true"], capture_output=True) if shutil.which("setpriv") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("cannot drop root's file-mode override here (setpriv missing or not permitted)")


class Tmpfs:
    """A real tmpfs of a few MB mounted at `path`: it fills up (ENOSPC) and can be remounted read-only (EROFS)."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(self.path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip() or r.returncode}); the "
                        "read-only and disk-full cases need one")

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True, capture_output=True)

    def fill(self, leave_kb: int) -> None:
        """Fill the disk up to `leave_kb` free, with a file the checks ignore."""
        st = os.statvfs(self.path)
        free = st.f_bavail * st.f_frsize
        with open(self.path / "filler.bin", "wb") as f:
            f.write(b"\0" * max(0, free - leave_kb * 1024))

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture(name="tmpfs")
def tmpfs_mounts(tmp_path):
    mounts: list[Tmpfs] = []

    def make(size_kb: int = 2048) -> Tmpfs:
        if os.name != "posix" or shutil.which("mount") is None:
            pytest.skip("no mount command on this system")
        mounts.append(Tmpfs(tmp_path / f"mnt{len(mounts)}", size_kb))
        return mounts[-1]

    yield make
    for m in mounts:
        m.unmount()


def assert_failed_once(r: Result, *fragments: str) -> str:
    """A stage that failed after it started: exit 2, no traceback, and ONE error line, last, with every fragment
    (progress lines before it are the stage's own output, not part of the error)."""
    assert r.code == 2, f"exit {r.code} (wanted 2); stderr:\n{r.err}"
    assert "Traceback" not in r.err, r.err
    errors = [line for line in r.err_lines if "error:" in line]
    assert errors == r.err_lines[-1:], f"wanted one error line, last:\n{r.err}"
    for f in fragments:
        assert f.lower() in errors[0].lower(), f"{f!r} not in {errors[0]!r}"
    return errors[0]
