#!/usr/bin/env python3
"""OpenVINO CPU attention, timed the way attngen's benchmarks are: one JSON line per run.

A peer for `attngen bench --json` and bench/onednn_sdpa.cpp, so that attngen-vs-OpenVINO ratios
come from one run on one machine. Two graphs (--model):

  plain    Q [B,Hq,Sq,D], K/V [B,Hkv,Skv,D] parameters -> opset13 ScaledDotProductAttention -> O.
           GQA (Hq > Hkv) cannot be given to the op directly (its head dimensions must match or
           broadcast, and 20 vs 5 heads do not), so --gqa picks how it is expressed:
             fold    (default) no copy: Q [B,Hq,Sq,D] viewed as [B,Hkv,G*Sq,D] (a free reshape), one
                     SDPA per KV head; causal then needs an explicit [G*Sq,Skv] mask, not is_causal.
             repeat  K/V heads repeated as exported PyTorch models do (Unsqueeze, Broadcast to
                     [B,Hkv,G,Skv,D], Reshape to [B,Hq,Skv,D]); the copy runs inside the timed call.
           The CPU plugin keeps its native SDPA node only for stateful (LLM) models; in a model
           like this one it decomposes SDPA and its snippets tokenizer re-fuses it into a single
           "Subgraph" kernel (MatMul-Softmax-MatMul). The "fused" field says what ran.
  kvcache  the stateful form a serving engine runs: K/V caches are ReadValue/Assign variables,
           the step's new K/V (--q-len tokens, default 1) are appended with Concat, and SDPA reads
           the whole cache (kv_len keys). This is the pattern the plugin's StatefulSDPAFusion turns
           into its native ScaledDotProductAttention node with the concat fused into the cache.
           Before every step (warm-up and timed) the cache is put back to kv_len - q_len keys
           (--state restore, default; see restore() below), so every timed step sees exactly kv_len
           keys. --state append instead runs consecutive steps the way a decoder does: timed step i
           sees kv_len + (i+1)*q_len keys.

FLOPs count only allowed scores, 2*(D+Dv) each, like attngen; causal is bottom-right aligned
(query i of Sq sees keys j <= i + Skv - Sq). Timing: time.perf_counter around infer() of one
infer request created beforehand, inputs and output bound once as tensors sharing numpy memory;
median (mean of the middle two for an even count, as bench/onednn_sdpa.cpp) of --reps after one
warm-up.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

try:
    import openvino as ov
    import openvino.opset13 as ops
    from openvino import opset6
    from openvino.op.util import Variable, VariableInfo
except ImportError as e:  # pragma: no cover - setup hint
    sys.exit(f"error: {e}; run bench/openvino/setup.sh and use the python of its venv")

OV_TYPE = {"f32": ov.Type.f32, "bf16": ov.Type.bf16, "f16": ov.Type.f16, "u8": ov.Type.u8}
ELEM_BYTES = {"f32": 4, "bf16": 2, "f16": 2, "u8": 1, "u4": 0.5}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=20)
    p.add_argument("--kv-heads", type=int, default=5)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--q-len", type=int, default=None, help="default 2048 (plain), 1 (kvcache: decode)")
    p.add_argument("--kv-len", type=int, default=2048)
    p.add_argument("--causal", action="store_true", help="bottom-right aligned causal mask")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--model", choices=["plain", "kvcache"], default="plain")
    p.add_argument("--gqa", choices=["fold", "repeat"], default="fold", help="plain model: how GQA is expressed")
    p.add_argument("--kv-cache-precision", choices=["same", "f32", "bf16", "f16", "u8"], default="same",
                   help="kvcache model: the plugin's KV cache precision (default: --dtype; the plugin's own default is u8)")
    p.add_argument("--state", choices=["restore", "append"], default="restore", help="kvcache model: state per step")
    p.add_argument("--profile", action="store_true",
                   help="PERF_COUNT on: add the plugin's per-node times of the last timed step (adds overhead)")
    p.add_argument("--check", action="store_true", help="compare the output with a float64 numpy reference (small shapes)")
    p.add_argument("--seed", type=int, default=20240521)
    o = p.parse_args(argv)
    if o.q_len is None:
        o.q_len = 1 if o.model == "kvcache" else 2048
    for name in ("batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len", "threads", "reps"):
        if getattr(o, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if o.heads % o.kv_heads:
        p.error("--heads must be a multiple of --kv-heads")
    if o.model == "kvcache" and o.q_len > o.kv_len:
        p.error("kvcache: --q-len (new tokens) must be <= --kv-len (keys after the step)")
    if o.kv_cache_precision == "same":
        o.kv_cache_precision = o.dtype
    return o


# ---------------------------------------------------------------- data
def bf16_bits(x):
    """float32 array -> bf16 bits (uint16), round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bits_to_f32(h):
    return (h.astype(np.uint32) << 16).view(np.float32)


class Buf:
    """A tensor's values: the numpy storage OpenVINO reads (f32, or bf16 bits) and its float64 view."""

    def __init__(self, shape, dtype, rng=None):
        self.shape, self.dtype = list(shape), dtype
        if dtype == "bf16":
            self.store = bf16_bits(rng.standard_normal(shape, dtype=np.float32)) if rng is not None \
                else np.zeros(shape, np.uint16)
        else:
            self.store = rng.standard_normal(shape, dtype=np.float32) if rng is not None else np.zeros(shape, np.float32)
        # Shares memory with self.store: nothing is copied when OpenVINO reads or writes it.
        self.tensor = ov.Tensor(self.store, self.shape, OV_TYPE[dtype])

    def values(self):
        return bits_to_f32(self.store).astype(np.float64) if self.dtype == "bf16" else self.store.astype(np.float64)


def allowed_keys(o, sq, skv):
    """Keys each query row may see (bottom-right causal), as an array over the Sq rows."""
    if not o.causal:
        return np.full(sq, skv, np.int64)
    return np.clip(np.arange(sq) + skv - sq + 1, 0, skv)


def reference(o, q, k, v):
    """float64 attention; rows with no allowed key output 0, like attngen."""
    B, H, Hkv, Sq, D = o.batch, o.heads, o.kv_heads, q.shape[2], o.head_dim
    G, Skv = H // Hkv, k.shape[2]
    s = np.einsum("bhgqd,bhkd->bhgqk", q.reshape(B, Hkv, G, Sq, D), k) / math.sqrt(D)
    n = allowed_keys(o, Sq, Skv)
    s = np.where(np.arange(Skv)[None, :] < n[:, None], s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m)
    den = p.sum(-1, keepdims=True)
    p = np.divide(p, den, out=np.zeros_like(p), where=den > 0)
    return np.einsum("bhgqk,bhkd->bhgqd", p, v).reshape(B, H, Sq, D)


def rel_err(out, ref):
    d = np.linalg.norm(out - ref)
    if not np.isfinite(d):
        return float("inf")
    r = np.linalg.norm(ref)
    return float(d / r if r > 0 else d)


# ---------------------------------------------------------------- graphs
def i64(values):
    return ops.constant(np.array(values, dtype=np.int64))


def causal_mask(o, rows_per_head, sq, skv):
    """Boolean [rows, Skv] mask, True = allowed; row r is query position r % Sq (bottom-right)."""
    n = allowed_keys(o, sq, skv)[np.arange(rows_per_head) % sq]
    return ops.constant(np.arange(skv)[None, :] < n[:, None])


def plain_model(o, et):
    B, H, Hkv, D, Sq, Skv = o.batch, o.heads, o.kv_heads, o.head_dim, o.q_len, o.kv_len
    G = H // Hkv
    q = ops.parameter([B, H, Sq, D], et, name="q")
    k = ops.parameter([B, Hkv, Skv, D], et, name="k")
    v = ops.parameter([B, Hkv, Skv, D], et, name="v")
    # The op's causal flag is top-left aligned (numpy.triu); it equals bottom-right only when Sq == Skv.
    native_causal = o.causal and Sq == Skv
    if o.gqa == "fold" and G > 1:
        qf = ops.reshape(q, i64([B, Hkv, G * Sq, D]), False)
        if o.causal:
            a = ops.scaled_dot_product_attention(qf, k, v, causal_mask(o, G * Sq, Sq, Skv), causal=False)
        else:
            a = ops.scaled_dot_product_attention(qf, k, v, causal=False)
        out = ops.reshape(a, i64([B, H, Sq, D]), False)
    else:
        def repeat(x):
            if G == 1:
                return x
            b = ops.broadcast(ops.unsqueeze(x, i64(2)), i64([B, Hkv, G, Skv, D]))
            return ops.reshape(b, i64([B, H, Skv, D]), False)
        if o.causal and not native_causal:
            out = ops.scaled_dot_product_attention(q, repeat(k), repeat(v), causal_mask(o, Sq, Sq, Skv), causal=False)
        else:
            out = ops.scaled_dot_product_attention(q, repeat(k), repeat(v), causal=native_causal)
    return ov.Model([ops.result(out)], [q, k, v], "attngen_peer_plain")


def kvcache_model(o, et):
    """Stateful decode/prefill step, in the shape of an exported LLM's attention (with beam_idx)."""
    B, H, Hkv, D = o.batch, o.heads, o.kv_heads, o.head_dim
    G = H // Hkv
    q = ops.parameter([B, H, -1, D], et, name="q")
    k_new = ops.parameter([B, Hkv, -1, D], et, name="k")
    v_new = ops.parameter([B, Hkv, -1, D], et, name="v")
    beam_idx = ops.parameter([-1], ov.Type.i32, name="beam_idx")
    sinks = []

    def cache(x, var_id):
        info = VariableInfo()
        info.data_shape, info.data_type, info.variable_id = ov.PartialShape([-1, Hkv, -1, D]), et, var_id
        var = Variable(info)
        # Constants in the graph's own type: a Convert between them and their users hides the
        # pattern from the plugin's fusion (bf16 then runs unfused).
        empty = ops.broadcast(ops.constant(np.array(0, dtype=np.float32), et), i64([B, Hkv, 0, D]))
        past = ops.gather(opset6.read_value(empty, var), beam_idx, i64(0))
        present = ops.concat([past, x], 2)
        sinks.append(opset6.assign(present, var))
        if G == 1:
            return present
        # repeat_kv as exported: Unsqueeze -> Multiply by ones -> Reshape. The plugin folds it into
        # its SDPA node (grouped heads read the shared cache; nothing is copied).
        ones = ops.constant(np.ones([1, 1, G, 1, 1], dtype=np.float32), et)
        rep = ops.multiply(ops.unsqueeze(present, i64(2)), ones)
        return ops.reshape(rep, i64([B, H, -1, D]), True)

    k = cache(k_new, "past_key")
    v = cache(v_new, "past_value")
    # With past keys the plugin's node applies is_causal bottom-right (checked by --check); a decode
    # step (q_len 1) sees every key either way.
    out = ops.scaled_dot_product_attention(q, k, v, causal=o.causal and o.q_len > 1)
    return ov.Model([ops.result(out)], sinks, [q, k_new, v_new, beam_idx], "attngen_peer_kvcache")


# ---------------------------------------------------------------- run
def describe(compiled):
    """What the CPU plugin compiled: attention kernel kind, its precision, the executed nodes."""
    nodes, fused, att_prec = [], "none", None
    for n in compiled.get_runtime_model().get_ordered_ops():
        ri = n.get_rt_info()
        get = lambda key: ri[key].astype(str) if key in ri else ""  # noqa: E731
        kind = get("layerType")
        if kind in ("Const", "Input", "Output"):
            continue
        prec, impl, orig = get("runtimePrecision"), get("primitiveType"), get("originalLayersNames")
        nodes.append(f"{kind}:{prec}:{impl}")
        if kind == "ScaledDotProductAttention":
            fused, att_prec = "native_sdpa_node", prec
        elif kind == "Subgraph" and "Softmax" in orig and fused != "native_sdpa_node":
            fused, att_prec = "snippets_mha_subgraph", prec
        elif kind == "Softmax" and fused == "none":
            att_prec = prec
    if fused == "none":
        fused = "unfused_matmul_softmax_matmul"
    return fused, att_prec, nodes


def prop(compiled, name):
    try:
        val = compiled.get_property(name)
    except Exception:  # noqa: BLE001 - property absent in this version
        return None
    if isinstance(val, ov.Type):
        return {ov.Type.f32: "f32", ov.Type.bf16: "bf16", ov.Type.f16: "f16", ov.Type.u8: "u8",
                ov.Type.u4: "u4", ov.Type.i8: "i8"}.get(val, str(val))
    return val if isinstance(val, (int, float, bool, str)) else str(val)


def main(argv=None):
    o = parse(sys.argv[1:] if argv is None else argv)
    rng = np.random.default_rng(o.seed)
    B, H, Hkv, D = o.batch, o.heads, o.kv_heads, o.head_dim
    Sq, Skv = o.q_len, o.kv_len
    et = OV_TYPE[o.dtype]

    config = {
        "INFERENCE_NUM_THREADS": o.threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": True,
        # The plugin's default on AVX512-BF16/AMX machines is bf16: f32 must be asked for.
        "INFERENCE_PRECISION_HINT": o.dtype,
    }
    if o.profile:
        config["PERF_COUNT"] = True
    if o.model == "kvcache":
        config.update({"KV_CACHE_PRECISION": o.kv_cache_precision,
                       "KEY_CACHE_PRECISION": o.kv_cache_precision,
                       "VALUE_CACHE_PRECISION": o.kv_cache_precision})
    core = ov.Core()
    model = plain_model(o, et) if o.model == "plain" else kvcache_model(o, et)
    t0 = time.perf_counter()
    compiled = core.compile_model(model, "CPU", config)
    compile_ms = (time.perf_counter() - t0) * 1e3
    request = compiled.create_infer_request()

    past = Skv - Sq if o.model == "kvcache" else 0
    new_kv = Sq if o.model == "kvcache" else Skv
    q = Buf([B, H, Sq, D], o.dtype, rng)
    k = Buf([B, Hkv, new_kv, D], o.dtype, rng)
    v = Buf([B, Hkv, new_kv, D], o.dtype, rng)
    out = Buf([B, H, Sq, D], o.dtype)
    request.set_tensor("q", q.tensor)
    request.set_tensor("k", k.tensor)
    request.set_tensor("v", v.tensor)
    request.set_output_tensor(0, out.tensor)

    # kvcache --state restore: the cache is put back before every step. set_state() alone is not
    # enough: the plugin copies a state set from outside into its own cache buffer during the next
    # infer() (measured: ~5x a decode step), so the snapshot holds past - q_len keys and an untimed
    # "settle" step appends the step's own K/V once, leaving exactly `past` keys in the plugin's
    # buffer; the timed step then appends again and reads kv_len keys. A prefill (past 0) just
    # resets the state to empty. With 0 < past < q_len there is no room to settle: the snapshot is
    # set directly and its copy is timed too ("state": "restore_unsettled").
    states, snap_k, snap_v = {}, None, None
    settle = o.model == "kvcache" and past >= Sq
    state_mode = o.state
    if o.model == "kvcache":
        beam = np.arange(B, dtype=np.int32)
        request.set_tensor("beam_idx", ov.Tensor(beam, shared_memory=True))
        states = {s.name: s for s in request.query_state()}
        snap_len = past - Sq if settle else past
        if snap_len:
            snap_k = Buf([B, Hkv, snap_len, D], o.dtype, rng)
            snap_v = Buf([B, Hkv, snap_len, D], o.dtype, rng)
        if o.state == "restore" and past and not settle:
            state_mode = "restore_unsettled"

    def restore():
        if o.model != "kvcache":
            return
        if snap_k is None:
            request.reset_state()
        else:
            states["past_key"].state = snap_k.tensor
            states["past_value"].state = snap_v.tensor
        if settle:
            request.infer()

    restore()
    request.infer()  # warm-up; also the output --check looks at
    err = None
    if o.check:
        kk, vv = k.values(), v.values()
        if o.model == "kvcache":
            parts_k, parts_v = [kk], [vv]
            if settle:  # the settle step appended the same new K/V once before
                parts_k, parts_v = [kk, kk], [vv, vv]
            if snap_k is not None:
                parts_k, parts_v = [snap_k.values()] + parts_k, [snap_v.values()] + parts_v
            kk, vv = np.concatenate(parts_k, axis=2), np.concatenate(parts_v, axis=2)
        # Rows with no allowed key (causal with Sq > Skv) are 0 in attngen but NaN in OpenVINO
        # (softmax over nothing): they are left out of the comparison and counted.
        rows = allowed_keys(o, Sq, kk.shape[2]) > 0
        empty_rows = int(B * H * np.count_nonzero(~rows))
        err = rel_err(out.values()[:, :, rows], reference(o, q.values(), kk, vv)[:, :, rows])

    ms = []
    for _ in range(o.reps):
        if o.state == "restore":
            restore()
        t0 = time.perf_counter()
        request.infer()
        ms.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(ms)

    allowed = float(allowed_keys(o, Sq, Skv).sum()) * B * H
    flops = 2.0 * (D + D) * allowed
    kv_prec = o.kv_cache_precision if o.model == "kvcache" else o.dtype
    kv_bytes = float(B * Hkv * Skv * (D + D)) * ELEM_BYTES.get(kv_prec, ELEM_BYTES[o.dtype])
    fused, att_prec, nodes = describe(compiled)

    j = {
        "peer": "openvino-cpu",
        "model": o.model,
        "dtype": o.dtype,
        "batch": B, "heads": H, "kv_heads": Hkv, "head_dim": D,
        "q_len": Sq, "kv_len": Skv, "causal": o.causal,
        "threads": prop(compiled, "INFERENCE_NUM_THREADS"),
        "reps": o.reps,
        "ms_median": round(med, 4),
        "ms_min": round(min(ms), 4),
        "gflops": round(flops / med / 1e6, 3),
        "allowed_fraction": round(allowed / (B * H * Sq * Skv), 6),
        "kv_bytes": kv_bytes,
        "kv_gbps": round(kv_bytes / med / 1e6, 3),
        "openvino_version": ov.get_version(),
        "inference_precision": prop(compiled, "INFERENCE_PRECISION_HINT"),
        "attention_precision": att_prec,
        "fused": fused,
        "exec_nodes": nodes,
        "compile_ms": round(compile_ms, 1),
    }
    if o.model == "plain":
        j["gqa"] = "none" if H == Hkv else o.gqa
    else:
        j["gqa"] = "none" if H == Hkv else "native"
        j["past_len"] = past
        j["state"] = state_mode
        j["kv_cache_precision"] = {"key": prop(compiled, "KEY_CACHE_PRECISION"),
                                   "value": prop(compiled, "VALUE_CACHE_PRECISION")}
    if o.profile:
        j["profile_us"] = [f"{p.node_type}:{p.exec_type}:{p.real_time.total_seconds() * 1e6:.0f}"
                           for p in request.profiling_info
                           if p.status == ov.ProfilingInfo.Status.EXECUTED and p.node_type not in ("Input", "Output", "Const")]
    if err is not None:
        j["rel_err"] = float(f"{err:.3e}")
        if empty_rows:
            j["empty_rows"] = empty_rows
    print(json.dumps(j), flush=True)
    # Same tolerances as bench/onednn_sdpa.cpp (attngen's own checks).
    if o.check and not (err <= (1.6e-2 if o.dtype == "bf16" or kv_prec != "f32" else 2e-5)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
