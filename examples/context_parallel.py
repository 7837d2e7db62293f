"""Context-parallel (ring) attention over torch.distributed with attngen kernels (docs/python.md).

Each of W ranks holds one shard of the queries and one of the keys/values (equal shards of the
sequence). The K/V shards travel around the ring (rank r sends to r+1, receives from r-1; isend/irecv
overlapped with the kernel); each rank computes the partial state (O, LSE) of its queries over each
K/V block with an attngen kernel (return_lse) and folds it in with attngen.merge_states. With a causal
mask, block j of rank r is skipped when j > r (fully masked), causal when j == r, unmasked when j < r.
The gathered result is checked against the single-process kernel (f32, ||o - ref|| / ||ref|| <= 2e-5);
a mismatch exits non-zero. The gloo backend, so CPU processes on one machine:

    python examples/context_parallel.py --world-size 4 [--causal] [--seq 4096] [--threads 1]
    torchrun --nproc-per-node 2 examples/context_parallel.py     (the same, launched by torchrun)
"""

import argparse
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import attngen
import attngen.torch

TOLERANCE_F32 = 2e-5


def spec(args, causal):
    """The spec (JSON text) of one block: f32, GQA, LSE; causal for a rank's own block."""
    return json.dumps({"dtype": "f32", "head_dim": args.head_dim, "num_heads": args.heads,
                       "num_kv_heads": args.kv_heads, "return_lse": True,
                       "mask": [{"type": "causal", "align": "top_left"}] if causal else []}, sort_keys=True)


def problem(args):
    """The full Q, K, V (every rank makes the same ones from the seed and keeps its shards)."""
    g = torch.Generator().manual_seed(args.seed)
    q = torch.randn(args.batch, args.heads, args.seq, args.head_dim, generator=g)
    k = torch.randn(args.batch, args.kv_heads, args.seq, args.head_dim, generator=g)
    v = torch.randn(args.batch, args.kv_heads, args.seq, args.head_dim, generator=g)
    return q, k, v


def block_spec(args, rank, j):
    """The spec for this rank's queries against rank j's keys, or None when the block is fully masked."""
    if not args.causal:
        return spec(args, False)
    return None if j > rank else spec(args, j == rank)


def ring_attention(args, q, kv, rank, world):
    """O and LSE of this rank's queries over every rank's K/V (kv: this rank's [2, B, Hkv, S/W, D])."""
    cur, nxt = kv.clone(), torch.empty_like(kv)
    o = lse = None
    for step in range(world):
        j = (rank - step) % world  # the rank whose K/V block this is
        pending = []
        if step + 1 < world:  # pass the block on while computing on it
            pending = [dist.isend(cur, (rank + 1) % world), dist.irecv(nxt, (rank - 1) % world)]
        text = block_spec(args, rank, j)
        if text is not None:
            part = attngen.torch.attention(q, cur[0], cur[1], text, threads=args.threads)
            if o is None:
                o, lse = part
            else:
                attngen.merge_states([o, part[0]], [lse, part[1]], out=o, lse_out=lse)
        for p in pending:
            p.wait()
        cur, nxt = nxt, cur
    return o, lse


def worker(rank, world, args):
    if "MASTER_ADDR" not in os.environ:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(args.port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        q, k, v = problem(args)
        shard = args.seq // world
        rows = slice(rank * shard, (rank + 1) * shard)
        q_mine = q[:, :, rows].contiguous()
        kv_mine = torch.stack([k[:, :, rows], v[:, :, rows]]).contiguous()
        ring_attention(args, q_mine, kv_mine, rank, world)  # warm-up: kernels compiled, buffers touched
        dist.barrier()
        start = time.perf_counter()
        for _ in range(args.repeats):
            o, _ = ring_attention(args, q_mine, kv_mine, rank, world)
        dist.barrier()
        seconds = (time.perf_counter() - start) / args.repeats

        parts = [torch.empty_like(o) for _ in range(world)]
        dist.all_gather(parts, o)
        ok = torch.tensor([1], dtype=torch.int32)
        if rank == 0:
            full, _ = attngen.torch.attention(q, k, v, spec(args, args.causal), threads=args.threads)
            got = torch.cat(parts, dim=2)
            err = float(torch.linalg.vector_norm((got - full).double()) / torch.linalg.vector_norm(full.double()))
            pairs = args.seq * (args.seq + 1) // 2 if args.causal else args.seq * args.seq  # allowed scores
            flops = 4.0 * args.batch * args.heads * args.head_dim * pairs
            print(f"context_parallel: {world} ranks (gloo), B {args.batch} Hq {args.heads} Hkv {args.kv_heads} "
                  f"D {args.head_dim} S {args.seq}{' causal' if args.causal else ''}, "
                  f"{args.threads} thread(s) per rank: {seconds * 1e3:.2f} ms per ring pass, "
                  f"{flops / seconds / 1e9:.1f} GFLOP/s; ||o - ref|| / ||ref|| = {err:.2e} "
                  f"(tolerance {TOLERANCE_F32:g})", flush=True)
            ok[0] = int(err <= TOLERANCE_F32)
        dist.broadcast(ok, 0)
        if not ok[0]:
            raise SystemExit(f"context_parallel: rank {rank}: the ring result differs from the single-process kernel")
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--world-size", type=int, default=2, help="processes to spawn (ignored under torchrun)")
    p.add_argument("--causal", action="store_true", help="causal mask (fully masked blocks are skipped)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--seq", type=int, default=2048, help="total sequence length (a multiple of the world size)")
    p.add_argument("--threads", type=int, default=1, help="kernel threads per rank")
    p.add_argument("--repeats", type=int, default=3, help="timed ring passes")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun
        args.world_size = int(os.environ["WORLD_SIZE"])
    if args.world_size < 1 or args.seq % args.world_size:
        p.error(f"--seq: expected a multiple of the world size {args.world_size}, got {args.seq}")
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        worker(int(os.environ["RANK"]), args.world_size, args)
    else:
        args.port = free_port()
        mp.spawn(worker, args=(args.world_size, args), nprocs=args.world_size, join=True)


if __name__ == "__main__":
    try:
        main()
    except (mp.ProcessExitedException, mp.ProcessRaisedException) as e:  # a rank failed: non-zero status
        sys.exit(str(e).strip().splitlines()[-1])
