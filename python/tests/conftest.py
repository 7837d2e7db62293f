"""Shared helpers of the attngen Python tests: random problems and errors as tools/common/workload.cpp
measures them (||o - ref|| / ||ref||), with the tolerances of the C++ suites. Where the C++ build
made the fake CUDA driver and NVRTC, the cuda backend runs on them (test_cuda.py), its kernels in
the block emulator, unless ATTNGEN_PYTEST_REAL_CUDA=1 (a GPU machine: test_torch_cuda.py)."""

import atexit
import os
import pathlib
import shutil
import tempfile

import ml_dtypes
import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
REGRESSION_SPECS = sorted((REPO / "specs" / "regression").glob("*.json"))
NUMPY_DTYPE = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16}
TOLERANCE = {"f32": 2e-5, "f16": 4e-3, "bf16": 1.6e-2}


def _select_fake_cuda():
    """Points attngen at the fake CUDA libraries before anything loads a driver (the first CUDA
    call reads these variables), or returns None."""
    from fake_cuda import fake_libraries

    libs = None if os.environ.get("ATTNGEN_PYTEST_REAL_CUDA") == "1" else fake_libraries()
    if libs is None:
        return None
    driver, nvrtc = libs
    emulated = driver.parent / "python-emulated"
    emulated.mkdir(exist_ok=True)
    os.environ.update(ATTNGEN_CUDA_DRIVER_LIBRARY=str(driver), ATTNGEN_NVRTC_LIBRARY=str(nvrtc),
                      FAKE_NVRTC_EMULATE=str(emulated), FAKE_CUDA_GUARD_PAGES="1")
    # The emulated kernels' cubins name their host builds in `emulated`: kept out of any cache
    # another checkout (or a later clean build) would read.
    os.environ["ATTNGEN_CACHE_DIR"] = str(driver.parent / "python-cache")
    return driver


FAKE_CUDA_DRIVER = _select_fake_cuda()

# Kernels the tests compile never go into the user's cache (~/.cache/attngen): a directory of
# this run unless the caller (or the fake CUDA set-up above) names one.
if not os.environ.get("ATTNGEN_CACHE_DIR"):
    os.environ["ATTNGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="attngen-pytest-cache-")
    atexit.register(shutil.rmtree, os.environ["ATTNGEN_CACHE_DIR"], ignore_errors=True)


def rel_err(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    finite = np.isfinite(ref)
    assert np.array_equal(finite, np.isfinite(a)), "non-finite values at different positions"
    num = np.linalg.norm(a[finite] - ref[finite])
    den = np.linalg.norm(ref[finite])
    return num / den if den > 0 else num


def randn(rng, shape, dtype="f32"):
    return rng.standard_normal(shape).astype(np.float32).astype(NUMPY_DTYPE[dtype])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
