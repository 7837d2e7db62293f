#!/usr/bin/env bash
# The CUDA backend on a GPU machine, in one call (issue #9): build the library
# and CLI there (no Debian packages: nlohmann-json, Xbyak and CLI11 come as
# headers in $ATTNGEN_THIRD_PARTY_INCLUDE), verify every regression spec on
# --backend cuda against the float64 reference (scripts/gpu_sweep.py), then
# benchmark against PyTorch's SDPA backends and FlexAttention
# (bench/cuda/sdpa_peers.py). Logs (with three kernels' dumps: source, PTX,
# ptxas report) go to $OUT/gpu-check-logs as they are made when $OUT is set
# (the device tool brings them back), else to build-gpu/logs. Status 1: a
# step failed (a failing case, a build error); a sweep stopped by its
# deadline is not a failure.
#
# From the project machine (the device tool; `.third_party` holds copies of
# /usr/include/{nlohmann,xbyak,CLI} and is listed in .git/info/exclude):
#   run(command="scripts/gpu-check.sh", carry=[".third_party"], timeout_s=540)
#   GPU_CHECK_STEPS="sweep bench python" picks steps ("python": the Python
#   package's GPU tests, python/tests/test_gpu.py, on torch, CuPy and JAX
#   arrays, in the background during the sweeps; the extension is built with
#   the image's nanobind where it has one; also "tiles": the tile shapes
#   against each other; "profile": the CLI bench and Nsight Compute on one
#   kernel); GPU_CHECK_QUICK=0 all five lengths (default: four, to fit the
#   call with the schedules below: build about 2 min, sweeps 105 + 5 x 25 s,
#   bench 2-3 min); GPU_SWEEP_SECONDS stops starting sweep cases after that
#   long; GPU_SWEEP_ARGS=--reverse.
#   GPU_CHECK_SCHEDULES: ATTNGEN_CUDA_TILE values not yet the default (the
#   sm_90a warpgroup-MMA kernel: warp-specialised with and without ping-pong
#   consumers, pipelined; also possible: 128x128wg, plain, 128x128wgp, which
#   spills, and 128x32w4, mma.sync warps of 32 rows), each swept on its own (bf16 cases but D 256, GPU_SCHEDULE_SWEEP_SECONDS)
#   after the default; those with no failing case are timed beside it in the
#   bench (a kernel that faults would end the bench's process); "" for none.
#   GPU_CHECK_DECODE_SCHEDULES: the same for the decoding tiles (key-split
#   warps, MxNkW), swept on the GQA variants (bf16, D 128: packed decoding
#   steps, split-KV; about 10 s) and timed in the bench's decoding rows only.
#   GPU_CHECK_PREBUILT=DIR: use the CLI and library already built in DIR
#   (no configure or build; the kernel cache goes to DIR/kernel-cache). CI
#   runs the sweeps this way on the block emulator (cuda_emulated.gpu_check_script),
#   so that the one call a GPU session has does not fail on the script.
set -uo pipefail
cd "$(dirname "$0")/.."
# Logs are written under $OUT as they are made, so that a call stopped at its
# time limit still brings back what ran.
out=${OUT:+$OUT/}gpu-check-logs
build=${GPU_CHECK_PREBUILT:-build-gpu}
[ -n "${OUT:-}" ] || out=$build/logs
rm -rf "$out" && mkdir -p "$out"
steps=${GPU_CHECK_STEPS:-sweep bench python}
schedules=${GPU_CHECK_SCHEDULES-128x128wsp,128x128ws,128x64wgp,128x64ws}
decode_schedules=${GPU_CHECK_DECODE_SCHEDULES-16x32k4}
third_party=${ATTNGEN_THIRD_PARTY_INCLUDE:-$PWD/.third_party}
start=$SECONDS
stamp() { echo "=== $1 ($((SECONDS - start)) s)"; }

stamp "machine"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader
echo "$(nproc) cores; $(lscpu | grep -m1 'Model name')"
# NVRTC from the toolkit when the loader does not know its folder.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -e "$d/libnvrtc.so.13" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && break
done

if [ -z "${GPU_CHECK_PREBUILT:-}" ]; then
  stamp "build"
  configure() {
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTNGEN_BUILD_TESTS=OFF -DATTNGEN_BUILD_BENCH=OFF \
      -DATTNGEN_THIRD_PARTY_INCLUDE="$third_party" "$@" >>"$out/configure.log" 2>&1
  }
  python_flags=(-DATTNGEN_BUILD_PYTHON=OFF)
  if [[ " $steps " == *" python "* ]] && nanobind_dir=$(python3 -m nanobind --cmake_dir 2>/dev/null); then
    python_flags=(-DATTNGEN_BUILD_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" -Dnanobind_DIR="$nanobind_dir")
  fi
  if ! configure "${python_flags[@]}"; then
    [ "${python_flags[0]}" = -DATTNGEN_BUILD_PYTHON=OFF ] && { tail -30 "$out/configure.log"; exit 1; }
    echo "python: no extension (configure failed with it: $out/configure.log); building without"
    configure -DATTNGEN_BUILD_PYTHON=OFF || { tail -30 "$out/configure.log"; exit 1; }
  fi
  cmake --build "$build" -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -B2 -A12 -m3 'error' "$out/build.log"; exit 1; }
fi
cli=$build/bin/attngen
lib=$(ls "$build"/libattngen.so 2>/dev/null || find "$build" -name 'libattngen.so' | head -1)
export ATTNGEN_CACHE_DIR=$(realpath -m "$build/kernel-cache")
$cli info 2>&1 | tee "$out/info.log"

rc=0
python_pid=
if [[ " $steps " == *" python "* ]]; then
  module=$(find "$build"/python -maxdepth 1 -name '_attngen*.so' 2>/dev/null | head -1)
  if [ -n "$module" ]; then
    stamp "python (in the background: $out/python.log)"
    rm -rf "$build"/python-package && mkdir -p "$build"/python-package && cp -r python/attngen "$build"/python-package/ &&
      cp "$module" "$build"/python-package/attngen/
    (ATTNGEN_PYTEST_REAL_CUDA=1 PYTHONPATH=$(realpath -m "$build/python-package") timeout 300 python3 -m pytest -q -p no:cacheprovider \
      -rs python/tests/test_gpu.py >"$out/python.log" 2>&1; echo "pytest exit status $?" >>"$out/python.log") &
    python_pid=$!
  else
    echo "python: skipped (no extension built)" | tee "$out/python.log"
  fi
fi
if [[ " $steps " == *" sweep "* ]]; then
  stamp "sweep"
  python3 scripts/gpu_sweep.py "$cli" --jobs 16 --deadline "${GPU_SWEEP_SECONDS:-105}" ${GPU_SWEEP_ARGS:-} 2>&1 |
    tee "$out/sweep.log"
  sweep_status=${PIPESTATUS[0]}
  [ "$sweep_status" = 0 ] || [ "$sweep_status" = 2 ] || rc=1  # 2: no failure, stopped by the deadline
  # A schedule that fails (or hangs) once is not benched: no case starts after
  # that. Stopped by the deadline is expected here; a failing case is not.
  # Prints the schedules that passed.
  sweep_schedules() {
    local tile passed="" only=$1 skip=$2 what=$3
    shift 3
    for tile in "$@"; do
      stamp "sweep ATTNGEN_CUDA_TILE=$tile$what" >&2
      ATTNGEN_CUDA_TILE=$tile python3 scripts/gpu_sweep.py "$cli" --jobs 16 --only "$only" ${skip:+--skip "$skip"} \
        --deadline "${GPU_SCHEDULE_SWEEP_SECONDS:-25}" --fail-fast --case-timeout 40 ${GPU_SWEEP_ARGS:-} \
        >"$out/sweep-$tile.log" 2>&1
      sed "s/^/[$tile] /" "$out/sweep-$tile.log" | tail -25 | tee -a "$out/sweep.log" >&2
      if grep -q '^FAIL' "$out/sweep-$tile.log" ||
        ! grep -Eq ': [1-9][0-9]* of [0-9]+ cases passed' "$out/sweep-$tile.log"; then
        echo "[$tile] not benched: it failed cases (or passed none)" >&2
      else
        passed=$passed${passed:+,}$tile
      fi
    done
    echo "$passed"
  }
  # Head dim 256 is not what the wgmma shapes are for (128x128wgp does not fit it).
  passed=$(sweep_schedules .bf16. .d256. "" ${schedules//,/ })
  [ "$passed" = "$schedules" ] || rc=1
  schedules=$passed
  # The decoding tiles on the GQA variants: packed decoding steps, split-KV.
  passed=$(sweep_schedules .bf16.d128.dv128.gqa4. "" " (decoding)" ${decode_schedules//,/ })
  [ "$passed" = "$decode_schedules" ] || rc=1
  decode_schedules=$passed
  # One kernel's dump (source, PTX, ptxas report) for the record.
  ATTNGEN_DUMP="$out/dump" $cli compile specs/examples/bitnet_causal_bf16.json --backend cuda >/dev/null 2>&1 || true
  for tile in 128x128wsp 128x64wgp; do
    ATTNGEN_CUDA_TILE=$tile ATTNGEN_DUMP="$out/dump-$tile" $cli compile specs/examples/bitnet_causal_bf16.json \
      --backend cuda >/dev/null 2>&1 || true
  done
fi
if [ -n "$python_pid" ]; then
  wait "$python_pid"
  stamp "python"
  tail -25 "$out/python.log"
  grep -q '^pytest exit status 0$' "$out/python.log" || rc=1
fi
if [[ " $steps " == *" bench "* ]]; then
  stamp "bench"
  quick=--quick
  [ "${GPU_CHECK_QUICK:-1}" = 0 ] && quick=
  PYTHONUNBUFFERED=1 python3 bench/cuda/sdpa_peers.py --lib "$lib" $quick --schedules "$schedules" \
    --decode-schedules "$decode_schedules" 2>&1 |
    tee "$out/bench.log"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
if [[ " $steps " == *" tiles "* ]]; then
  # The 16-bit tile shapes against each other (ATTNGEN_CUDA_TILE), peers alongside.
  stamp "tiles"
  for tile in "" 64x64 64x32 128x32; do
    ATTNGEN_CUDA_TILE=$tile PYTHONUNBUFFERED=1 python3 bench/cuda/sdpa_peers.py --lib "$lib" --dtypes bf16 \
      --lengths 4096,16384 --flex "" --no-merge 2>&1 | tee -a "$out/tiles.log"
  done
fi
if [[ " $steps " == *" profile "* ]]; then
  # The CLI's own benchmark, then Nsight Compute on one launch of the same kernel.
  stamp "profile"
  spec=bench/specs/cuda_bf16_d128.json
  $cli bench $spec --backend cuda --batch 4 --q-len 8192 --kv-len 8192 --reps 5 2>&1 | tee "$out/profile.log"
  timeout 150 ncu --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
    --section InstructionStats --section Occupancy --section LaunchStats -k regex:attngen_fwd -c 1 \
    $cli bench $spec --backend cuda --batch 4 --q-len 8192 --kv-len 8192 --reps 1 >>"$out/profile.log" 2>&1
  tail -120 "$out/profile.log"
fi
stamp "done, status $rc"
exit $rc
