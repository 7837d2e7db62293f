"""Per-call overhead of the Python package on small decode shapes (docs/python.md, "Overhead").

    build/py-venv/bin/python bench/python_overhead.py

For each shape: the time of attngen_kernel_run alone (a C loop over converted arguments), and
the time per call from Python of kernel(q, k, v) (allocates O), kernel(q, k, v, out=o) and the
one-call attngen.attention(...); the overhead is a Python call's time minus the C run's."""

import sys
import time

import ml_dtypes
import numpy as np

import attngen


def per_call_us(fn, repeat=15, number=1000):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number * 1e6)
    return min(times)  # the least disturbed repeat: other load only adds


def main():
    rng = np.random.default_rng(0)
    rows = []
    # B = 0: every argument is converted and checked, nothing is computed (the overhead alone).
    shapes = (("f32", 0, 8, 8, 64, 16), ("bf16", 0, 8, 8, 64, 16), ("f32", 1, 8, 8, 64, 16),
              ("f32", 1, 32, 8, 128, 128), ("bf16", 1, 32, 8, 128, 128))
    for dtype, b, hq, hkv, d, skv in shapes:
        name = f"{dtype} B {b} Hq {hq} Hkv {hkv} D {d} Skv {skv}"
        spec = {"dtype": dtype, "head_dim": d, "num_heads": hq, "num_kv_heads": hkv,
                "mask": [{"type": "causal", "align": "bottom_right"}]}
        kernel = attngen.compile(spec, threads=1)
        np_dtype = ml_dtypes.bfloat16 if dtype == "bf16" else np.float32
        q = rng.standard_normal((b, hq, 1, d), np.float32).astype(np_dtype)
        k = rng.standard_normal((b, hkv, skv, d), np.float32).astype(np_dtype)
        v = rng.standard_normal((b, hkv, skv, d), np.float32).astype(np_dtype)
        out = np.empty((b, hq, 1, d), np_dtype)
        c_run = min(kernel._k.time_c_run(q, k, v, out, 1, 20000) for _ in range(5)) * 1e6
        t_full = per_call_us(lambda: kernel(q, k, v))
        t_out = per_call_us(lambda: kernel(q, k, v, out=out))
        t_one = per_call_us(lambda: attngen.attention(q, k, v, mask=[{"type": "causal", "align": "bottom_right"}], threads=1))
        rows.append((name, c_run, t_full, t_out, t_one))
    print(f"attngen {attngen.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, one thread,"
          f" decode (Sq 1, causal), {attngen.compile(spec).isa}")
    print(f"{'shape':36} {'C run':>7} {'kernel(q,k,v)':>14} {'out=o':>7} {'attention()':>12}   us per call;"
          " overhead = call - C run")
    for name, c, *t in rows:
        print(f"{name:36} {c:7.2f} {t[0]:8.2f} (+{t[0] - c:4.2f}) {t[1]:6.2f} (+{t[1] - c:4.2f})"
              f" {t[2]:6.2f} (+{t[2] - c:4.2f})")


if __name__ == "__main__":
    main()
