"""Shared by the subprocess tests: wait for a file a running job is expected to write."""
import time
from pathlib import Path


def wait_for(path: Path, proc, timeout: float = 600) -> None:
    """Poll until ``path`` exists; fail if ``proc`` ends first or ``timeout`` passes."""
    start = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, f"the run ended early: {proc.communicate()[1][-3000:]}"
        assert time.monotonic() - start < timeout, f"{path} never appeared"
        time.sleep(0.02)
