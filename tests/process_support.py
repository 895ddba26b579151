"""Starting `servicecoach` as people do: the console script of this virtualenv, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SERVICECOACH = str(Path(sys.executable).parent / "servicecoach")


def run_servicecoach(
    *args: str, env: dict[str, str], cwd: Path, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`servicecoach ARGS…` run to its end with `input` on stdin; its output captured."""
    return subprocess.run(
        [SERVICECOACH, *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
