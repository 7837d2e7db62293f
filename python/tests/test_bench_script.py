"""bench/cuda/sdpa_peers.py, the bench step of scripts/gpu-check.sh, run end to end without a GPU:
attngen on the fake CUDA driver (its kernels in the block emulator, on host memory) and torch on
the CPU behind a stand-in for torch.cuda (events timed on the host clock), at the script's tiny
--smoke shapes. A GPU session has one call of the check, so its bench must not end on a script
error (its decoding and merge rows and its schedule columns had never run). The times mean
nothing here; attngen's outputs are checked against the peers' in the script's own columns."""

import runpy
import sys
import time
import types

import pytest

from conftest import FAKE_CUDA_DRIVER, REPO

torch = pytest.importorskip("torch")
if FAKE_CUDA_DRIVER is None:
    pytest.skip("no fake CUDA driver selected (none built in build/tests, or ATTNGEN_PYTEST_REAL_CUDA=1)",
                allow_module_level=True)
LIB = REPO / "build" / "libattngen.so"
if not LIB.exists():
    pytest.skip(f"no {LIB} (scripts/build.sh builds it)", allow_module_level=True)


class _HostEvent:
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


def _on_the_host(monkeypatch):
    monkeypatch.setenv("FAKE_CUDA_HOST_IS_DEVICE", "1")  # torch's CPU tensors pass for device arrays
    randn = torch.randn
    monkeypatch.setattr(torch, "randn", lambda *shape, device=None, **kw: randn(*shape, **kw))
    monkeypatch.setattr(torch.cuda, "Event", _HostEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a: types.SimpleNamespace(cuda_stream=0))
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: types.SimpleNamespace(name="host stand-in", multi_processor_count=132))


def _diffs(line):
    """The max|diff| of each attngen schedule: the numbers after the ratio column."""
    tail = line.rsplit(")", 1)[1] if ")" in line else line.rsplit("x", 1)[1]
    return [float(x) for x in tail.split()]


def test_sdpa_peers_runs_every_step_and_attngen_matches(monkeypatch, capsys):
    _on_the_host(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["sdpa_peers.py", "--lib", str(LIB), "--smoke", "--dtypes", "bf16",
                                      "--head-dims", "128", "--schedules", "128x32w4",
                                      "--decode-schedules", "16x32k4"])
    runpy.run_path(str(REPO / "bench" / "cuda" / "sdpa_peers.py"), run_name="__main__")
    out = capsys.readouterr().out
    lines = out.splitlines()
    prefill = [l for l in lines if l.startswith("bf16  128 ")]
    decode = [l for l in lines if l.startswith("decode bf16")]
    merge = [l for l in lines if l.startswith("merge ") and "parts" not in l]
    assert len(prefill) == 2 and len(decode) == 1 and len(merge) == 2, out
    assert any("128x32w4" in l for l in lines) and any("16x32k4" in l for l in lines), out
    for line in prefill + decode:
        diffs = _diffs(line)
        assert len(diffs) == 2 and all(d < 0.05 for d in diffs), line  # bf16 against torch's f32/bf16
    for line in merge:
        assert float(line.split()[-1]) < 0.05, line
