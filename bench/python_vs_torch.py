"""attngen through Python next to PyTorch on the CPU (docs/perf.md, "Python and PyTorch").

    build/py-venv/bin/python bench/python_vs_torch.py [--seq 2048 512] [--threads 1 2] [--rounds 5]

Contenders, all called from Python on the same torch tensors [B, H, S, D] (bhsd):
  attngen   attngen.torch.scaled_dot_product_attention (the custom op; kernel compiled once, cached)
  sdpa      torch.nn.functional.scaled_dot_product_attention (enable_gqa, is_causal)
  flex      torch.compile(flex_attention) with a causal block mask (compiled once per dtype and mask;
            compile times are printed)
f32 and bf16, no mask and causal (top-left, Sq = Skv), 1 and 2 threads (torch.set_num_threads and
attngen's threads=). Shape BitNet: B 1, Hq 20, Hkv 5, D 128. Rounds alternate the contenders and
keep each one's best (other load on a shared machine only adds). GFLOP/s = 4 * B * Hq * D * allowed
(q, k) pairs / time: causal counts S (S + 1) / 2 pairs, no mask S^2."""

import argparse
import time

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

import attngen
import attngen.torch as attngen_torch

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


def contenders(q, k, v, is_causal, threads, flex_compiled):
    s = q.shape[2]
    block_mask = create_block_mask(causal, None, None, s, s, device="cpu") if is_causal else None
    return {
        "attngen": lambda: attngen_torch.scaled_dot_product_attention(q, k, v, is_causal=is_causal, enable_gqa=True,
                                                                      threads=threads),
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=is_causal, enable_gqa=True),
        "flex": lambda: flex_compiled(q, k, v, block_mask=block_mask, enable_gqa=True),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seq", type=int, nargs="+", default=[2048, 512])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    b, hq, hkv, d = 1, 20, 5, 128
    # One compiled graph per shape, dtype, mask and thread count: past Dynamo's default limit of 8
    # it would fall back to eager flex_attention (unfused, many times slower) without failing.
    torch._dynamo.config.recompile_limit = 64
    flex_compiled = torch.compile(flex_attention, dynamic=False)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "?")
    print(f"{cpu}; torch {torch.__version__}, attngen {attngen.__version__}; "
          f"B {b} Hq {hq} Hkv {hkv} D {d}; best of {args.rounds} rounds; GFLOP/s on allowed pairs")
    print("| S | dtype | mask | threads | attngen | sdpa | flex | attngen/sdpa | attngen/flex |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in args.seq:
        g = torch.Generator().manual_seed(0)
        for dtype_name, dtype in DTYPES.items():
            q = torch.randn(b, hq, s, d, generator=g).to(dtype)
            k = torch.randn(b, hkv, s, d, generator=g).to(dtype)
            v = torch.randn(b, hkv, s, d, generator=g).to(dtype)
            for is_causal in (False, True):
                pairs = s * (s + 1) // 2 if is_causal else s * s
                flops = 4.0 * b * hq * d * pairs
                for threads in args.threads:
                    torch.set_num_threads(threads)
                    fns = contenders(q, k, v, is_causal, threads, flex_compiled)
                    outs = {}
                    for name, fn in fns.items():  # warm-up: compiles (timed for flex and attngen)
                        start = time.perf_counter()
                        outs[name] = fn()
                        first = time.perf_counter() - start
                        if first > 1.0:
                            print(f"  ({name} {dtype_name} {'causal' if is_causal else 'no mask'} S {s}: "
                                  f"first call {first:.1f} s)", flush=True)
                    ref = outs["sdpa"].double()
                    for name, o in outs.items():  # the contenders agree (bf16 loosely: a sanity check)
                        err = float((o.double() - ref).norm() / ref.norm())
                        assert err < (2e-2 if dtype is torch.bfloat16 else 1e-4), (name, err)
                    best = {name: float("inf") for name in fns}
                    for _ in range(args.rounds):
                        for name, fn in fns.items():
                            start = time.perf_counter()
                            fn()
                            best[name] = min(best[name], time.perf_counter() - start)
                    rate = {name: flops / t / 1e9 for name, t in best.items()}
                    print(f"| {s} | {dtype_name} | {'causal' if is_causal else 'none'} | {threads} | "
                          f"{rate['attngen']:.1f} | {rate['sdpa']:.1f} | {rate['flex']:.1f} | "
                          f"{rate['attngen'] / rate['sdpa']:.2f} | {rate['attngen'] / rate['flex']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
