"""examples/context_parallel.py (ring attention over torch.distributed, gloo) with 2 and 4 processes:
it checks its own result against the single-process kernel and exits non-zero on a mismatch."""

import subprocess
import sys

import pytest
from torch_helpers import torch  # noqa: F401 - skips the module without torch

from conftest import REPO

SMALL = ["--seq", "256", "--heads", "4", "--kv-heads", "2", "--head-dim", "32", "--repeats", "1"]


@pytest.mark.parametrize("world, causal", [(2, False), (4, True)])
def test_ring_matches_single_process(world, causal):
    cmd = [sys.executable, str(REPO / "examples" / "context_parallel.py"), "--world-size", str(world), *SMALL]
    run = subprocess.run(cmd + (["--causal"] if causal else []), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    line = [x for x in run.stdout.splitlines() if x.startswith("context_parallel:")]
    assert len(line) == 1 and f"{world} ranks (gloo)" in line[0] and "GFLOP/s" in line[0], run.stdout
