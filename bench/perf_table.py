#!/usr/bin/env python3
"""Turns the JSON lines of bench/run_perf.sh into the Markdown tables of docs/perf.md.

Usage: bench/run_perf.sh build 2048 | tee run.txt; bench/perf_table.py run.txt
Every ratio is between figures of the same run.
"""
import json
import sys


def main(path):
    header, peak, rows, peers = "", None, [], []
    for line in open(path):
        line = line.strip()
        if line.startswith("#"):
            header = line[1:].strip()
            continue
        if not line.startswith("{"):
            continue
        j = json.loads(line)
        if "f32_fma_ymm" in j:
            peak = j
        elif j.get("peer"):
            peers.append(j)
        else:
            rows.append(j)
    print(f"Run: {header}\n")
    if peak:
        for k in ("f32_fma_ymm", "f32_fma_zmm", "bf16_dot_zmm"):
            if k in peak:
                p = peak[k]
                print(f"* peak {k}: {p['gflops_1_thread']:.1f} GFLOP/s on 1 thread, "
                      f"{p['gflops_all_threads']:.1f} on {peak['threads_all']}")
        for k in ("read_dram", "read_llc"):
            if k in peak:
                p = peak[k]
                print(f"* {k} ({p['bytes_per_thread'] >> 20} MiB per thread): {p['gbps_1_thread']:.1f} GB/s on 1 thread, "
                      f"{p['gbps_all_threads']:.1f} on {peak['threads_all']}")
        print()
    print("| spec | isa | extra | q x kv | threads | ms median | ms min | GFLOP/s | efficiency (of) | allowed | K/V GB/s | compile ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for j in rows:
        name = j["spec"].split("/")[-1].replace(".json", "")
        extra = j.get("extra", "")
        if j.get("rotate", 1) > 1:
            extra = (extra + " " if extra else "") + f"rotate {j['rotate']}"
        kv = f"{j['kv_gbps']:.1f}" if j["q_len"] <= 16 else "-"
        print(f"| {name} | {j['isa']} | {extra} | {j['q_len']}x{j['kv_len']} | {j['threads']} | {j['ms_median']:.3f} | "
              f"{j['ms_min']:.3f} | {j['gflops']:.1f} | {j['efficiency']:.3f} ({j['peak_kind']}) | "
              f"{j['allowed_fraction']:.3f} | {kv} | {j['compile_ms']:.2f} |")
    if peers:
        print("\n| peer | model | dtype | causal | q x kv | ms median | GFLOP/s (allowed) | K/V GB/s | what ran |")
        print("|---|---|---|---|---|---|---|---|---|")
        for j in peers:
            what = ", ".join(j["impls"][:3]) if "impls" in j else j.get("fused", "")
            kv = f"{j['kv_gbps']:.1f}" if "kv_gbps" in j and j["q_len"] <= 16 else "-"
            print(f"| {j['peer']} | {j.get('model', 'unfused')} | {j['dtype']} | {j['causal']} | "
                  f"{j['q_len']}x{j['kv_len']} | {j['ms_median']:.3f} | {j['gflops']:.1f} | {kv} | {what} |")


if __name__ == "__main__":
    main(sys.argv[1])
