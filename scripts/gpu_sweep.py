#!/usr/bin/env python3
"""The CUDA backend against the float64 reference: every spec of
specs/regression/ in f32, f16 and bf16, at odd lengths (Sq != Skv, one
query, more queries than keys), at its own head dim and at 128, 40/72
(Dv != D), 256 and 33/17, in bhsd and bshd, with GQA (4 query heads a KV
head: lengths that take the packed launch, where a block serves a group's
heads, and whole tiles that do not; short Sq with long Skv splits the keys
across blocks and merges them), through `attngen verify --backend
cuda` (random data, NaN in every padded position, fully masked rows checked
to be exactly 0 / -inf, tolerances of spec v1). Runs verifies in parallel and
prints one line per failure and a summary; exit status 1 on any failure, 2 when
the deadline left cases not run (none failed), 0 when every case ran and passed.

  python3 scripts/gpu_sweep.py build-gpu/bin/attngen [--jobs 12] [--quick]
"""
import argparse
import concurrent.futures as cf
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

LENGTHS = [(1, 1), (3, 17), (17, 3), (65, 129), (129, 129), (1, 300), (200, 1000)]
LENGTHS_OTHER_DIMS = [(17, 3), (129, 129), (33, 300)]
DIMS = [(128, 128), (40, 72), (256, 256), (33, 17)]
# GQA, 8 query heads on 2 KV heads: Sq 256 fills whole tiles (32 or 128 rows)
# and is launched unpacked; the others pack the group's heads (launch_grid).
# (1, 1000) and (3, 600) also split the keys (kv_splits: few blocks, many key
# blocks), as does (200, 1000) of LENGTHS.
LENGTHS_GQA = [(1, 1000), (3, 600), (17, 3), (129, 129), (256, 200)]
CASE_TIMEOUT_S = 90  # compile (a few seconds, 16 at once) and verify of one case (--case-timeout)


def variants(spec_dir, tmp):
    """(spec file, sq, skv) for every case."""
    cases = []
    for path in sorted(glob.glob(os.path.join(spec_dir, "*.json"))):
        base = json.load(open(path))
        name = os.path.basename(path)[:-5]
        for k, dtype in enumerate(("f32", "bf16", "f16")):
            own = (base["head_dim"], base.get("head_dim_v", base["head_dim"]))
            # (head dims, layout, GQA, lengths), the GQA variant second so
            # that a sweep cut short by its deadline still meets it.
            configs = [(own, layout, False, LENGTHS) for layout in ("bhsd", "bshd")]
            configs.append(((own[0] if dtype == "f32" else 128, ) * 2, ("bhsd", "bshd")[k % 2], True, LENGTHS_GQA))
            configs += [(dims, "bhsd", False, LENGTHS_OTHER_DIMS) for dims in DIMS]
            for (d, dv), layout, gqa, lengths in configs:
                s = dict(base, dtype=dtype, head_dim=d, head_dim_v=dv, layout=layout)
                if gqa:
                    s.update(num_heads=8, num_kv_heads=2)
                f = os.path.join(tmp, f"{name}.{dtype}.d{d}.dv{dv}{'.gqa4' if gqa else ''}.{layout}.json")
                json.dump(s, open(f, "w"))
                for sq, skv in lengths:
                    cases.append((f, sq, skv))
    return cases


def run(cli, backend, case, timeout):
    f, sq, skv = case
    try:  # a kernel that hangs fails its case instead of the whole call
        p = subprocess.run([cli, "verify", f, "--backend", backend, "--batch", "2", "--q-len", str(sq), "--kv-len",
                            str(skv)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return case, 124, f"error: timed out after {timeout} s"
    return case, p.returncode, p.stdout + p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--reverse", action="store_true", help="last cases first (with --deadline: the other half)")
    ap.add_argument("--deadline", type=float, default=1e9, help="seconds after which no new case starts")
    ap.add_argument("--only", default="", help="substring of the spec variants to run")
    ap.add_argument("--skip", default="", help="substring of the spec variants not to run")
    ap.add_argument("--case-timeout", type=float, default=CASE_TIMEOUT_S, help="seconds a case may take")
    ap.add_argument("--fail-fast", action="store_true", help="start no case after the first failure")
    ap.add_argument("--specs", default=os.path.join(os.path.dirname(__file__), "..", "specs", "regression"))
    opt = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = [c for c in variants(opt.specs, tmp) if opt.only in os.path.basename(c[0])
                 and not (opt.skip and opt.skip in os.path.basename(c[0]))]
        if opt.reverse:
            cases.reverse()
        # Compile each variant once first (the disk cache serves the rest).
        firsts = {}
        for c in cases:
            firsts.setdefault(c[0], c)
        failed, done = [], 0
        deadline = time.monotonic() + opt.deadline
        with cf.ThreadPoolExecutor(opt.jobs) as pool:
            for group in (list(firsts.values()), [c for c in cases if firsts[c[0]] is not c]):
                if time.monotonic() > deadline or (opt.fail_fast and failed):
                    break
                futures = [pool.submit(run, opt.cli, opt.backend, c, opt.case_timeout) for c in group]
                for fut in cf.as_completed(futures):
                    if fut.cancelled():
                        continue
                    case, rc, out = fut.result()
                    done += 1
                    if rc != 0:
                        failed.append(case)
                        err = [l for l in out.splitlines() if l.startswith(("error", "result")) or "rror" in l]
                        print(f"FAIL {os.path.basename(case[0])} Sq={case[1]} Skv={case[2]}: {' | '.join(err)[:400]}")
                        sys.stdout.flush()
                    if time.monotonic() > deadline or (opt.fail_fast and failed):
                        for f in futures:
                            f.cancel()
        print(f"{opt.backend} sweep: {done - len(failed)} of {done} cases passed, {len(cases) - done} not run "
              f"(deadline {opt.deadline} s); {len(firsts)} spec variants")
        return 1 if failed else 2 if done < len(cases) else 0


if __name__ == "__main__":
    sys.exit(main())
