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
        p = peak["f32_fma_ymm"]
        print(f"Peak (f32 FMA, ymm): {p['gflops_1_thread']:.1f} GFLOP/s on 1 thread, "
              f"{p['gflops_all_threads']:.1f} on {peak['threads_all']}\n")
    print("| spec | extra | q x kv | threads | ms median | ms min | GFLOP/s | efficiency | allowed | compile ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for j in rows:
        name = j["spec"].split("/")[-1].replace(".json", "")
        extra = j.get("extra", "")
        print(f"| {name} | {extra} | {j['q_len']}x{j['kv_len']} | {j['threads']} | {j['ms_median']:.2f} | "
              f"{j['ms_min']:.2f} | {j['gflops']:.1f} | {j['efficiency']:.3f} | {j['allowed_fraction']:.3f} | "
              f"{j['compile_ms']:.2f} |")
    if peers:
        print("\n| peer | dtype | causal | ms median | GFLOP/s (allowed) | score matrix MiB | implementations |")
        print("|---|---|---|---|---|---|---|")
        for j in peers:
            print(f"| {j['peer']} | {j['dtype']} | {j['causal']} | {j['ms_median']:.1f} | {j['gflops']:.1f} | "
                  f"{j['score_matrix_bytes'] / 2**20:.0f} | {', '.join(j['impls'][:3])} |")


if __name__ == "__main__":
    main(sys.argv[1])
