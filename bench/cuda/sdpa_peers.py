#!/usr/bin/env python3
"""attngen's CUDA kernels beside PyTorch's scaled_dot_product_attention
(cuDNN and FlashAttention-2 backends) and FlexAttention, on one GPU, in one
process, timed the same way (CUDA events around repeated calls after warm-up).

attngen is called through its C ABI (libattngen.so, ctypes) on torch's device
pointers: no copies. TFLOP/s count allowed score elements only (causal: the
lower triangle), 4 * D FLOPs each (Q.K and P.V).

  python3 bench/cuda/sdpa_peers.py --lib build-gpu/libattngen.so [--quick]

--smoke: tiny shapes and one timed call each, so that the script itself can be
run where there is no GPU (python/tests/test_bench_script.py: the fake CUDA
driver, a CPU stand-in for torch.cuda); its times mean nothing.
"""
import argparse
import concurrent.futures as cf
import ctypes as C
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

# ---- the C ABI (runtime/include/attngen/attngen.h)
MAX_RANK = 4
DTYPES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


class Tensor(C.Structure):
    _fields_ = [("data", C.c_void_p), ("dtype", C.c_int), ("rank", C.c_int32),
                ("shape", C.c_int64 * MAX_RANK), ("strides", C.c_int64 * MAX_RANK)]


class Args(C.Structure):
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o", "lse", "q_lens", "kv_lens", "q_doc", "kv_doc", "mask",
                                      "alibi_slopes", "prefix_lens")]


class CompileOptions(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("backend", C.c_char_p), ("threads", C.c_int32),
                ("cuda_arch", C.c_char_p), ("cuda_tile", C.c_char_p)]


def view(t):
    d = Tensor()
    d.data = t.data_ptr()
    d.dtype = DTYPES[t.dtype]
    d.rank = t.dim()
    for i in range(t.dim()):
        d.shape[i] = t.shape[i]
        d.strides[i] = t.stride(i)
    return d


class Attngen:
    def __init__(self, path):
        self.lib = C.CDLL(path)
        self.lib.attngen_last_error.restype = C.c_char_p
        self.lib.attngen_compile_options_init_sized.argtypes = [C.POINTER(CompileOptions), C.c_size_t]
        self.lib.attngen_kernel_compile.argtypes = [C.c_char_p, C.POINTER(CompileOptions), C.POINTER(C.c_void_p)]
        self.lib.attngen_kernel_run_cuda_sized.argtypes = [C.c_void_p, C.POINTER(Args), C.c_size_t, C.c_void_p]
        self.lib.attngen_merge_states_cuda.argtypes = [C.POINTER(Tensor), C.POINTER(Tensor), C.c_int32,
                                                       C.POINTER(Tensor), C.POINTER(Tensor), C.c_void_p]

    def check(self, status, what):
        if status != 0:
            raise RuntimeError(f"{what}: {self.lib.attngen_last_error().decode()}")

    def compile(self, spec, tile=""):
        """A cuda kernel of `spec` with schedule `tile` ("": the per-spec one, or ATTNGEN_CUDA_TILE's)."""
        opt = CompileOptions()
        # Our struct's size: the library writes and reads only the fields declared above.
        self.lib.attngen_compile_options_init_sized(C.byref(opt), C.sizeof(opt))
        opt.backend = b"cuda"
        opt.cuda_tile = tile.encode() if tile else None
        k = C.c_void_p()
        self.check(self.lib.attngen_kernel_compile(json.dumps(spec).encode(), C.byref(opt), C.byref(k)), "compile")
        return k

    def compile_all(self, jobs):
        """{key: kernel} for {key: (spec, tile)}, compiled side by side: NVRTC takes seconds a kernel
        and ctypes lets go of the GIL during the call, so a bench of many schedules does not spend
        minutes of the GPU check compiling one kernel after another."""
        with cf.ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 4) or 1) as pool:
            futures = {key: pool.submit(self.compile, spec, tile) for key, (spec, tile) in jobs.items()}
            return {key: f.result() for key, f in futures.items()}

    def runner(self, kernel, q, k, v, o):
        args = Args()
        args.q, args.k, args.v, args.o = view(q), view(k), view(v), view(o)
        stream = C.c_void_p(torch.cuda.current_stream().cuda_stream)

        def run():
            self.check(self.lib.attngen_kernel_run_cuda_sized(kernel, C.byref(args), C.sizeof(args), stream), "run")
        return run


SMOKE = False  # --smoke: one warm-up and one timed call


def time_ms(fn, reps):
    warm_ups, reps = (1, 1) if SMOKE else (3, reps)
    for _ in range(warm_ups):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def flops(b, h, s, d, causal):
    allowed = s * (s + 1) // 2 if causal else s * s
    return 4.0 * b * h * d * allowed


def decode(ag, dtype, schedules, shapes):
    """GQA decoding (one query a head, 32 query heads on 8 KV heads, D 128):
    the launch packs a KV group's heads into one block. Memory-bound, so
    reported as microseconds and GB/s of K and V read. Each schedule's time
    (the first is the default's), the peers', and the first schedule's and the
    fastest's ratio to the best peer."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    hq, hkv, d = 32, 8, 128
    extra = "".join(f" {x:>9}" for x in schedules[1:])
    print(f"decode {hq}/{hkv} heads D {d}: B  Skv     attngen (us, GB/s K+V){extra}      cudnn   flash2  math  (us)  "
          "attngen/best (fastest)  max|diff| (each attngen schedule)")
    spec = {"dtype": "bf16" if dtype == torch.bfloat16 else "f16", "head_dim": d, "num_heads": hq, "num_kv_heads": hkv,
            "mask": []}
    kernels = ag.compile_all({sched: (spec, sched) for sched in schedules})
    for b, skv in shapes:
        q = torch.randn(b, hq, 1, d, device="cuda", dtype=dtype)
        k, v = (torch.randn(b, hkv, skv, d, device="cuda", dtype=dtype) for _ in range(2))
        o = torch.empty_like(q)
        ref = F.scaled_dot_product_attention(q.float(), k.float().repeat_interleave(hq // hkv, 1),
                                             v.float().repeat_interleave(hq // hkv, 1))
        row, diffs = {}, []
        for sched in schedules:
            o.fill_(float("nan"))
            row[sched or "attngen"] = time_ms(ag.runner(kernels[sched], q, k, v, o), 50) * 1e3
            torch.cuda.synchronize()
            diffs.append((o.float() - ref).abs().max().item())
        for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash2", SDPBackend.FLASH_ATTENTION),
                              ("math", SDPBackend.MATH)):
            try:
                with sdpa_kernel(backend):
                    row[name] = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), 50) * 1e3
            except Exception as e:  # noqa: BLE001 - a peer without GQA support: report and go on
                row[name] = None
                print(f"# decode {name} failed: {str(e).splitlines()[0][:100]}")
        gb = 2 * b * hkv * skv * d * q.element_size() / 1e9
        ours = row[schedules[0] or "attngen"]
        fastest = min(row[x or "attngen"] for x in schedules)
        best = min([row[n] for n in ("cudnn", "flash2") if row.get(n)] or [math.nan])
        others = "".join(f" {row[x]:9.1f}" for x in schedules[1:])
        peers = " ".join(f"{row[n]:8.1f}" if row.get(n) else "      - " for n in ("cudnn", "flash2", "math"))
        print(f"decode {spec['dtype']:5} {b:3} {skv:6} {ours:9.1f} us {gb / (ours * 1e-6):7.0f} GB/s{others}   {peers}   "
              f"{best / ours:5.2f}x ({best / fastest:4.2f}x)   {' '.join(f'{x:.3g}' for x in diffs)}")
        sys.stdout.flush()
        del q, k, v, o


def merge(ag, shapes):
    """attngen_merge_states_cuda against the same merge in torch eager (max, exp, weighted sum:
    several kernels), bshd bf16 parts [B, S, 32, 128] with f32 LSE. Memory-bound: microseconds and
    GB/s of the parts read and the output written."""
    print("merge  parts  B  S       attngen (us, GB/s)       torch eager (us)  attngen/torch  max|diff|")
    for parts, b, s in shapes:
        o = [torch.randn(b, s, 32, 128, device="cuda", dtype=torch.bfloat16) for _ in range(parts)]
        lse = [torch.randn(b, 32, s, device="cuda") * 3 for _ in range(parts)]
        out, out_lse = torch.empty_like(o[0]), torch.empty_like(lse[0])
        # bhsd views of the bshd parts ([B, H, S, Dv] with strides), as a kernel's bshd O reads
        os_ = (Tensor * parts)(*(view(x.transpose(1, 2)) for x in o))
        ls_ = (Tensor * parts)(*(view(x) for x in lse))
        ov, lv = view(out.transpose(1, 2)), view(out_lse)
        stream = C.c_void_p(torch.cuda.current_stream().cuda_stream)

        def ours():
            ag.check(ag.lib.attngen_merge_states_cuda(os_, ls_, parts, C.byref(ov), C.byref(lv), stream), "merge")

        def eager():
            ls = torch.stack(lse)
            m = ls.amax(0)
            w = torch.exp(ls - m)
            acc = sum(wi.transpose(1, 2).unsqueeze(-1) * oi.float() for wi, oi in zip(w, o))
            return (acc / w.sum(0).transpose(1, 2).unsqueeze(-1)).to(torch.bfloat16), m + torch.log(w.sum(0))

        t_ours, t_eager = time_ms(ours, 20) * 1e3, time_ms(eager, 20) * 1e3
        want, _ = eager()
        torch.cuda.synchronize()
        gb = (parts + 1) * o[0].numel() * 2 / 1e9
        print(f"merge  {parts:5} {b:3} {s:6} {t_ours:9.1f} us {gb / (t_ours * 1e-6):7.0f} GB/s   {t_eager:9.1f}"
              f"   {t_eager / t_ours:5.2f}x   {(out.float() - want.float()).abs().max().item():.3g}")
        sys.stdout.flush()
        del o, lse, out, out_lse
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--quick", action="store_true", help="fewer lengths")
    ap.add_argument("--flex", default="8192", help="lengths at which FlexAttention runs (bf16, D 128; each compiles for tens of seconds)")
    ap.add_argument("--lengths", default="", help="comma-separated sequence lengths (default: 1024..16384)")
    ap.add_argument("--dtypes", default="bf16,f16")
    ap.add_argument("--head-dims", default="64,128")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny shapes, one timed call each: checks that the script runs (times mean nothing)")
    ap.add_argument("--decode", default="bf16", help="dtypes of the GQA decoding rows (\"\" for none)")
    ap.add_argument("--no-merge", dest="merge", action="store_false",
                    help="skip the rows of attngen_merge_states_cuda against torch eager")
    ap.add_argument("--schedules", default="",
                    help="ATTNGEN_CUDA_TILE values timed beside the default in the same run, comma-separated "
                         "(e.g. 128x128wg,128x64wgp,128x32w4)")
    ap.add_argument("--decode-schedules", default="16x32k4",
                    help="ATTNGEN_CUDA_TILE values timed beside the default in the decoding rows only (the "
                         "key-split tiles, MxNkW, are for decoding)")
    opt = ap.parse_args()
    global SMOKE
    SMOKE = opt.smoke
    ag = Attngen(opt.lib)
    dev = torch.cuda.get_device_properties(0)
    print(f"# {dev.name}, {dev.multi_processor_count} SMs, torch {torch.__version__}, cuda {torch.version.cuda}")
    from torch.nn.attention import SDPBackend, sdpa_kernel
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        flex = torch.compile(flex_attention)
    except Exception as e:  # noqa: BLE001 - report and go on without it
        print(f"# FlexAttention unavailable: {e}")
        flex = None
    flex_lengths = {int(x) for x in opt.flex.split(",") if x}
    B, H = (1, 2) if opt.smoke else (4, 16)
    lengths = [1024, 4096, 8192, 16384] if opt.quick else [1024, 2048, 4096, 8192, 16384]
    if opt.smoke:
        lengths, opt.flex = [64], ""
    if opt.lengths:
        lengths = [int(x) for x in opt.lengths.split(",")]
    dtypes = [{"bf16": torch.bfloat16, "f16": torch.float16}[x] for x in opt.dtypes.split(",")]
    tile = os.environ.get("ATTNGEN_CUDA_TILE", "")
    if tile:
        print(f"# attngen tile override ATTNGEN_CUDA_TILE={tile}")
    # Each schedule is its own kernel (the compile option cuda_tile), timed on
    # the same tensors as the peers.
    schedules = [tile] + [x for x in opt.schedules.split(",") if x and x != tile]
    extra = "".join(f" {x:>9}" for x in schedules[1:])
    print(f"dtype  D  mask    S      attngen{extra}  cudnn  flash2  flex   (TFLOP/s)  attngen/best(cudnn,flash2)"
          "  max|diff| (each attngen schedule)")
    def spec_of(dtype, d, causal):
        return {"dtype": "bf16" if dtype == torch.bfloat16 else "f16", "head_dim": d, "num_heads": H,
                "mask": [{"type": "causal", "align": "top_left"}] if causal else []}
    head_dims = [int(x) for x in opt.head_dims.split(",")]
    problems = [(dtype, d, causal) for dtype in dtypes for d in head_dims for causal in (False, True)]
    all_kernels = ag.compile_all({(p, sched): (spec_of(*p), sched) for p in problems for sched in schedules})
    for dtype in dtypes:
        for d in head_dims:
            for causal in (False, True):
                spec = spec_of(dtype, d, causal)
                kernels = {sched: all_kernels[(dtype, d, causal), sched] for sched in schedules}
                for s in lengths:
                    q, k, v = (torch.randn(B, H, s, d, device="cuda", dtype=dtype) for _ in range(3))
                    o = torch.empty_like(q)
                    reps = max(3, int(2e12 / flops(B, H, s, d, causal)))
                    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                        ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    row, diffs = {}, []
                    for sched in schedules:
                        o.fill_(float("nan"))
                        row[sched or "attngen"] = time_ms(ag.runner(kernels[sched], q, k, v, o), reps)
                        torch.cuda.synchronize()
                        diffs.append((o.float() - ref.float()).abs().max().item())
                    for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash2", SDPBackend.FLASH_ATTENTION)):
                        try:
                            with sdpa_kernel(backend):
                                row[name] = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                                                    reps)
                        except Exception as e:  # noqa: BLE001
                            row[name] = None
                            print(f"# {name} failed: {str(e).splitlines()[0][:100]}")
                    if flex is not None and s in flex_lengths and dtype == torch.bfloat16 and d == 128:
                        try:
                            bm = create_block_mask(lambda b, h, qi, ki: qi >= ki, None, None, s, s) if causal else None
                            row["flex"] = time_ms(lambda: flex(q, k, v, block_mask=bm), reps)
                        except Exception as e:  # noqa: BLE001
                            row["flex"] = None
                            print(f"# flex failed: {str(e).splitlines()[0][:100]}")
                    f = flops(B, H, s, d, causal)
                    tf = {n: (f / (t * 1e-3) / 1e12 if t else None) for n, t in row.items()}
                    best = max([tf[n] for n in ("cudnn", "flash2") if tf.get(n)] or [math.nan])
                    names = [x or "attngen" for x in schedules] + ["cudnn", "flash2", "flex"]
                    cells = " ".join(f"{tf[n]:6.1f}" if tf.get(n) else "    - " for n in names)
                    fastest = max(tf[x or "attngen"] for x in schedules)
                    diff = " ".join(f"{x:.3g}" for x in diffs)
                    print(f"{spec['dtype']:5} {d:3} {'causal' if causal else 'none  '} {s:6} {cells}   "
                          f"{tf[schedules[0] or 'attngen'] / best:5.2f}x (fastest {fastest / best:4.2f}x)   {diff}")
                    sys.stdout.flush()
                    del q, k, v, o
                    torch.cuda.empty_cache()
    for x in (x for x in opt.decode.split(",") if x):
        decode(ag, {"bf16": torch.bfloat16, "f16": torch.float16}[x],
               [tile] + [s for s in opt.decode_schedules.split(",") if s and s != tile],
               ((2, 77),) if opt.smoke else ((1, 8192), (1, 32768), (16, 8192), (64, 4096)))
    if opt.merge:
        merge(ag, ((2, 1, 1), (3, 2, 5)) if opt.smoke else ((2, 4, 1), (2, 64, 1), (2, 4, 8192), (8, 1, 32768)))


if __name__ == "__main__":
    main()
