"""Shared helpers of the attngen Python tests: random problems and errors as tools/common/workload.cpp
measures them (||o - ref|| / ||ref||), with the tolerances of the C++ suites."""

import pathlib

import ml_dtypes
import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
REGRESSION_SPECS = sorted((REPO / "specs" / "regression").glob("*.json"))
NUMPY_DTYPE = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16}
TOLERANCE = {"f32": 2e-5, "f16": 4e-3, "bf16": 1.6e-2}


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
