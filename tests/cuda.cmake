# Included by tests/CMakeLists.txt (the same directory scope): the CUDA
# backend's tests without a GPU: NVRTC compiles and resource reports, the
# fake driver and NVRTC (tests/fake_cuda), and the block emulator (tests/cuda_host).

# --- CUDA backend without a GPU (docs/api.md, issue #9) ----------------------
# The NVRTC wrapper, ptxas reports, cubin images, backend selection, the launch
# argument; tests needing NVRTC skip (saying so) where it is not installed.
add_executable(attngen_cuda_tests test_cuda.cpp test_cuda_render.cpp test_cuda_index_logic.cpp)
# test_cuda_index_logic builds host programs from rendered kernels with this compiler.
target_compile_definitions(attngen_cuda_tests PRIVATE ATTNGEN_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  ATTNGEN_TEST_CXX="${CMAKE_CXX_COMPILER}")
target_link_libraries(attngen_cuda_tests PRIVATE attngen_core GTest::gtest GTest::gtest_main)
target_include_directories(attngen_cuda_tests PRIVATE ${PROJECT_BINARY_DIR}/generated)
gtest_discover_tests(attngen_cuda_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS cuda)

# Every regression spec compiles for sm_80 and sm_90a with NVRTC (no GPU needed),
# one ctest test each (they run in parallel), each printing the resource report
# of the module's three entries (the kernel, its split-KV instance, the merge);
# with D and Dv <= 128 none may spill. Skipped where NVRTC is not installed.
set(any_spill "registers [0-9]+, spill stores [0-9]+ B, spill loads [0-9]+ B")
set(no_spill "registers [0-9]+, spill stores 0 B, spill loads 0 B")
file(GLOB ATTNGEN_REGRESSION_SPECS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/specs/regression/*.json)
set(spec_index 0)
foreach(spec_file ${ATTNGEN_REGRESSION_SPECS})
  get_filename_component(spec_name ${spec_file} NAME_WE)
  file(READ ${spec_file} spec_json)
  string(JSON head_dim GET "${spec_json}" head_dim)
  string(JSON head_dim_v ERROR_VARIABLE no_dv GET "${spec_json}" head_dim_v)
  if(no_dv)
    set(head_dim_v ${head_dim})
  endif()
  set(spills "${any_spill}")
  if(head_dim LESS_EQUAL 128 AND head_dim_v LESS_EQUAL 128)
    set(spills "${no_spill}")
  endif()
  set(report "resources +${spills}.*split-KV +${spills}.*merge +${spills}")
  foreach(arch sm_80 sm_90a)
    set(dir ${ATTNGEN_TEST_CACHE}/cuda-compile/${arch}-${spec_name})
    add_test(NAME cuda_compile.${arch}.${spec_name}
      COMMAND sh -c "rm -rf \"$1\" && ATTNGEN_CACHE_DIR=\"$1\" exec \"$0\" compile \"$2\" --backend cuda --arch $3"
              $<TARGET_FILE:attngen_cli> ${dir} ${spec_file} ${arch})
    set_tests_properties(cuda_compile.${arch}.${spec_name} PROPERTIES LABELS cuda
      PASS_REGULAR_EXPRESSION "backend +cuda \\(isa ${arch}\\).*kernel +compiled in .*launch +grid .*${report}"
      SKIP_REGULAR_EXPRESSION "no NVRTC library")
  endforeach()
  # The tensor-core path of the same spec at head dim 128 (bf16 and f16 in
  # turn): the default schedule for sm_90a, which may not spill; the
  # warpgroup-MMA kernels for sm_90a, plain, pipelined and warp-specialised
  # (ATTNGEN_CUDA_TILE=128x128wg, 128x64wgp, 128x128ws, 128x128wsp), which may neither spill nor have
  # their wgmma serialized by ptxas; and warps of 32 rows for sm_80
  # (128x32w4), which must compile (the specs with several data masks spill a
  # few bytes there); and the decoding tile of key-split warps for sm_90a
  # (16x32k4), which may not spill. scripts/gpu-check.sh times these schedules against the
  # default on a GPU. Label cuda_mma: the
  # sanitizer and coverage jobs skip them (the host code they run is the f32
  # tests' own; only NVRTC's work differs).
  math(EXPR spec_index "${spec_index} + 1")
  math(EXPR odd "${spec_index} % 2")
  set(dtype16 bf16)
  if(odd)
    set(dtype16 f16)
  endif()
  string(JSON spec16 SET "${spec_json}" dtype "\"${dtype16}\"")
  string(JSON spec16 SET "${spec16}" head_dim 128)
  string(JSON spec16 REMOVE "${spec16}" head_dim_v)
  set(spec16_file ${CMAKE_CURRENT_BINARY_DIR}/cuda-specs/${spec_name}_${dtype16}_d128.json)
  file(WRITE ${spec16_file} "${spec16}")
  foreach(variant "sm_90a;;mma.sync" "sm_90a;128x128wg;wgmma" "sm_90a;128x64wgp;pipelined wgmma"
                  "sm_90a;128x128ws;warp-specialised wgmma" "sm_90a;128x128wsp;ping-pong warp-specialised wgmma"
                  "sm_90a;16x32k4;mma.sync m16n8k16, 16x32 tiles, 4 warps splitting the keys"
                  "sm_80;128x32w4;mma.sync")
    list(GET variant 0 arch)
    list(GET variant 1 tile)
    list(GET variant 2 mma)
    set(test_name cuda_compile.${arch}.${spec_name}_${dtype16}_d128)
    set(spills "${no_spill}")
    if(tile)
      set(test_name ${test_name}.tile-${tile})
    endif()
    if(arch STREQUAL "sm_80")
      set(spills "${any_spill}")
    endif()
    add_test(NAME ${test_name}
      COMMAND sh -c "rm -rf \"$1\" && ATTNGEN_CUDA_TILE=$4 ATTNGEN_CACHE_DIR=\"$1\" exec \"$0\" compile \"$2\" --backend cuda --arch $3"
              $<TARGET_FILE:attngen_cli> ${ATTNGEN_TEST_CACHE}/cuda-compile/${arch}-${spec_name}-16${tile} ${spec16_file} ${arch} "${tile}")
    set_tests_properties(${test_name} PROPERTIES LABELS "cuda;cuda_mma"
      PASS_REGULAR_EXPRESSION "backend +cuda \\(isa ${arch}.*\\).*kernel +compiled in .*launch +grid .*resources +${spills}.*split-KV +${spills}.*merge +${spills}.*render +${dtype16} ${mma}"
      FAIL_REGULAR_EXPRESSION "wgmma serialized"
      SKIP_REGULAR_EXPRESSION "no NVRTC library")
  endforeach()
  # The same with 8 query heads per KV head (32 and 4), where a block serves a
  # KV group's heads (rows packed over heads): the default schedule for sm_90a,
  # its three entries without spills.
  string(JSON spec16 SET "${spec16}" num_heads 32)
  string(JSON spec16 SET "${spec16}" num_kv_heads 4)
  set(spec16_file ${CMAKE_CURRENT_BINARY_DIR}/cuda-specs/${spec_name}_${dtype16}_d128_gqa8.json)
  file(WRITE ${spec16_file} "${spec16}")
  set(test_name cuda_compile.sm_90a.${spec_name}_${dtype16}_d128_gqa8)
  add_test(NAME ${test_name}
    COMMAND sh -c "rm -rf \"$1\" && ATTNGEN_CACHE_DIR=\"$1\" exec \"$0\" compile \"$2\" --backend cuda --arch sm_90a"
            $<TARGET_FILE:attngen_cli> ${ATTNGEN_TEST_CACHE}/cuda-compile/sm_90a-${spec_name}-16-gqa8 ${spec16_file})
  set_tests_properties(${test_name} PROPERTIES LABELS "cuda;cuda_mma"
    PASS_REGULAR_EXPRESSION "backend +cuda \\(isa sm_90a.*\\).*kernel +compiled in .*launch +grid .*resources +${no_spill}.*split-KV +${no_spill}.*merge +${no_spill}.*render +${dtype16} mma.sync"
    SKIP_REGULAR_EXPRESSION "no NVRTC library")
endforeach()

# --cuda-tile picks the kernel's schedule whatever ATTNGEN_CUDA_TILE says (the
# decoding tile here, the environment naming a wgmma one), and may not spill.
add_test(NAME cuda_compile.sm_90a.cuda_tile_option
  COMMAND sh -c "rm -rf \"$1\" && ATTNGEN_CUDA_TILE=128x64wgp ATTNGEN_CACHE_DIR=\"$1\" exec \"$0\" compile \"$2\" --backend cuda --arch sm_90a --cuda-tile 16x32k4"
          $<TARGET_FILE:attngen_cli> ${ATTNGEN_TEST_CACHE}/cuda-compile/tile-option ${PROJECT_SOURCE_DIR}/specs/examples/bitnet_causal_bf16.json)
set_tests_properties(cuda_compile.sm_90a.cuda_tile_option PROPERTIES LABELS "cuda;cuda_mma"
  PASS_REGULAR_EXPRESSION "resources +${no_spill}.*split-KV +${no_spill}.*render +bf16 mma.sync m16n8k16, 16x32 tiles, 4 warps splitting the keys"
  SKIP_REGULAR_EXPRESSION "no NVRTC library")

# The disk cache serves cubins across processes: a second process, with JIT
# disabled, loads the kernel the first compiled.
add_test(NAME cuda_cubin_from_disk_cache
  COMMAND sh -c "rm -rf \"$1\" && $0 compile $2 --backend cuda --arch sm_90a && ATTNGEN_DISABLE_JIT=1 ATTNGEN_VERBOSE=1 $0 compile $2 --backend cuda --arch sm_90a"
          $<TARGET_FILE:attngen_cli> ${ATTNGEN_TEST_CACHE}/cuda-disk ${PROJECT_SOURCE_DIR}/specs/examples/padding_causal.json)
set_tests_properties(cuda_cubin_from_disk_cache PROPERTIES LABELS cuda
  ENVIRONMENT ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-disk
  PASS_REGULAR_EXPRESSION "kernel +compiled in .*cache hit \\(disk\\) key=.*kernel +disk cache in .*resources +registers"
  SKIP_REGULAR_EXPRESSION "no NVRTC library")

# ATTNGEN_DUMP writes the rendered source, the PTX and the ptxas report.
add_test(NAME cuda_dump_source_ptx_report
  COMMAND sh -c "rm -rf \"$1\" && ATTNGEN_DUMP=\"$1/dump\" ATTNGEN_CACHE_DIR=\"$1/cache\" $0 compile $2 --backend cuda --arch sm_80 && grep -l 'extern \"C\" __global__' \"$1\"/dump/*.cu && grep -l '.entry' \"$1\"/dump/*.ptx && grep -h 'Used [0-9]* registers' \"$1\"/dump/*.ptxas.txt"
          $<TARGET_FILE:attngen_cli> ${ATTNGEN_TEST_CACHE}/cuda-dump ${PROJECT_SOURCE_DIR}/specs/examples/padding_causal.json)
set_tests_properties(cuda_dump_source_ptx_report PROPERTIES LABELS cuda
  PASS_REGULAR_EXPRESSION "dump/[0-9a-f]+\\.cu.*dump/[0-9a-f]+\\.ptx.*ptxas info +: Used [0-9]+ registers"
  SKIP_REGULAR_EXPRESSION "no NVRTC library")

# Without a GPU: `info` says why cuda is unavailable, and running on it is that
# error (with a GPU, the same commands report it and pass verify).
add_test(NAME cuda_info_says_why COMMAND attngen_cli info)
set_tests_properties(cuda_info_says_why PROPERTIES LABELS cuda
  PASS_REGULAR_EXPRESSION "\n  cuda +(available, isa sm_[0-9]+a?/nvrtc-|unavailable: (no NVRTC library|no CUDA driver|no CUDA device|cuInit failed)).*\ncuda +(nvrtc [0-9.]+ |no NVRTC library)")
add_test(NAME cuda_verify_or_unavailable
  COMMAND attngen_cli verify ${PROJECT_SOURCE_DIR}/specs/examples/padding_causal.json --backend cuda --batch 3 --q-len 33 --kv-len 70)
set_tests_properties(cuda_verify_or_unavailable PROPERTIES LABELS cuda
  ENVIRONMENT ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-verify
  PASS_REGULAR_EXPRESSION "result +PASS|error: backend cuda: unavailable on this machine: (no NVRTC library|no CUDA driver|no CUDA device|cuInit failed)"
  FAIL_REGULAR_EXPRESSION "result +FAIL")

# --- CUDA driver side on fakes (no GPU, no toolkit; tests/fake_cuda) -----------
# A fake libcuda (device memory = host memory, launches recorded) and a fake
# NVRTC (fake cubins, ptxas-style logs), loaded through ATTNGEN_CUDA_DRIVER_LIBRARY
# and ATTNGEN_NVRTC_LIBRARY: module loading, launches and their parameter
# blocks, device buffers and driver errors run everywhere, checked against
# what the fake recorded. Nothing is computed: results are the GPU job's.
# One label, fake_cuda (`ctest -L cuda` matches it too); not api, which the TSan
# job runs with only its own targets built.
add_library(fake_cuda_driver SHARED fake_cuda/fake_cuda_driver.cpp)
add_library(fake_nvrtc SHARED fake_cuda/fake_nvrtc.cpp)
foreach(fake fake_cuda_driver fake_nvrtc)
  target_include_directories(${fake} PRIVATE ${PROJECT_SOURCE_DIR})
endforeach()
# The block emulator (tests/cuda_host/README.md): with FAKE_NVRTC_EMULATE=DIR
# the fake NVRTC also builds each kernel for the host, linked against it, and
# the fake driver's launches run it. x86-64 only (its fibers switch in
# assembly). Its tests (label cuda_emulated) stay out of the sanitizer jobs:
# a sanitizer would have to follow the fibers' stacks.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  add_library(attngen_cuda_emulator SHARED cuda_host/emulator.cpp cuda_host/tensor_cores.cpp cuda_host/barriers.cpp)
  target_include_directories(attngen_cuda_emulator PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(fake_cuda_driver PRIVATE attngen_cuda_emulator ${CMAKE_DL_LIBS})
  target_compile_definitions(fake_cuda_driver PRIVATE FAKE_CUDA_EMULATOR)
  # The host builds' flags (fake_nvrtc.cpp). -O0: half the build time of -O1
  # and no slower to run (the emulator's own code is the work).
  set(host_flags -std=c++17 -O0 -fPIC -w)
  string(JOIN " " host_flags_string ${host_flags})
  target_compile_definitions(fake_nvrtc PRIVATE FAKE_NVRTC_HOST_CXX="${CMAKE_CXX_COMPILER}"
    FAKE_NVRTC_HOST_FLAGS="${host_flags_string}"
    FAKE_NVRTC_SOURCE_DIR="${PROJECT_SOURCE_DIR}" FAKE_NVRTC_EMULATOR_LIB="$<TARGET_FILE:attngen_cuda_emulator>")
  add_dependencies(fake_nvrtc attngen_cuda_emulator)
  # Every host build starts with tests/cuda_host/device_host.hpp, whose C++
  # library headers were 0.2 s of a 0.35 s build: GCC precompiles it here with
  # the builds' flags, and the builds find it first on their -I path (GCC
  # uses a .gch beside the header's name; it checks the flags and ignores an
  # unusable one, so a stale file costs time, never a wrong kernel).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    set(pch_dir ${CMAKE_CURRENT_BINARY_DIR}/cuda-host-pch)
    set(pch ${pch_dir}/tests/cuda_host/device_host.hpp.gch)
    add_custom_command(OUTPUT ${pch}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${pch_dir}/tests/cuda_host
      COMMAND ${CMAKE_CXX_COMPILER} ${host_flags} -I${PROJECT_SOURCE_DIR} -x c++-header
        ${PROJECT_SOURCE_DIR}/tests/cuda_host/device_host.hpp -o ${pch} -MD -MF ${pch}.d -MT ${pch}
      DEPFILE ${pch}.d
      COMMENT "Precompiling tests/cuda_host/device_host.hpp for the emulator's host builds")
    add_custom_target(cuda_host_pch DEPENDS ${pch})
    add_dependencies(fake_nvrtc cuda_host_pch)
    target_compile_definitions(fake_nvrtc PRIVATE FAKE_NVRTC_PCH_DIR="${pch_dir}")
  endif()
  set(ATTNGEN_CUDA_EMULATOR ON)
endif()
set(FAKE_CUDA_DEFINES FAKE_CUDA_DRIVER_PATH="$<TARGET_FILE:fake_cuda_driver>" FAKE_NVRTC_PATH="$<TARGET_FILE:fake_nvrtc>")
set(FAKE_CUDA_ENV "ATTNGEN_CUDA_DRIVER_LIBRARY=$<TARGET_FILE:fake_cuda_driver>;ATTNGEN_NVRTC_LIBRARY=$<TARGET_FILE:fake_nvrtc>")

# The C++ side the CLI uses (device mirrors of host tensors, KernelCalls) and the kernel itself.
add_executable(attngen_cuda_fake_tests test_cuda_fake_driver.cpp)
target_link_libraries(attngen_cuda_fake_tests PRIVATE attngen_workload GTest::gtest GTest::gtest_main)
target_include_directories(attngen_cuda_fake_tests PRIVATE ${PROJECT_BINARY_DIR}/generated)
target_compile_definitions(attngen_cuda_fake_tests PRIVATE ${FAKE_CUDA_DEFINES})
add_dependencies(attngen_cuda_fake_tests fake_cuda_driver fake_nvrtc)
gtest_discover_tests(attngen_cuda_fake_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS fake_cuda
  ENVIRONMENT ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-fake)
# attngen_kernel_run_cuda through the C ABI, linked against libattngen alone.
add_executable(attngen_cuda_fake_api_tests test_cuda_fake_api.cpp)
target_link_libraries(attngen_cuda_fake_api_tests PRIVATE attngen GTest::gtest GTest::gtest_main ${CMAKE_DL_LIBS})
target_include_directories(attngen_cuda_fake_api_tests PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(attngen_cuda_fake_api_tests PRIVATE ${FAKE_CUDA_DEFINES})
add_dependencies(attngen_cuda_fake_api_tests fake_cuda_driver fake_nvrtc)
gtest_discover_tests(attngen_cuda_fake_api_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS fake_cuda
  ENVIRONMENT ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-fake-api)

# `attngen info` on the fakes: the device described, and each way the driver
# can be missing or broken named.
add_test(NAME cuda_fake_info COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info PROPERTIES LABELS fake_cuda ENVIRONMENT "${FAKE_CUDA_ENV}"
  PASS_REGULAR_EXPRESSION "\n  cuda +available, isa sm_90a/nvrtc-13.99/tpl-[0-9a-f]+\n(llvm +[^\n]*\n)?cuda +nvrtc 13.99 \\([^\n]*fake_nvrtc[^\n]*\\)\ncuda +driver 13.0\ncuda +device 0: Fake CUDA device \\(attngen tests\\) \\(sm_90, 132 SMs, 227 KiB shared memory per block\\)\n")
add_test(NAME cuda_fake_info_no_device COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_no_device PROPERTIES LABELS fake_cuda ENVIRONMENT "${FAKE_CUDA_ENV};FAKE_CUDA_DEVICES=0"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: no CUDA device \\(cuInit failed: CUDA_ERROR_NO_DEVICE \\(no CUDA-capable device is detected\\)\\). kernels can still be compiled without a GPU for an explicit arch.*\ncuda +no CUDA device \\(cuInit failed")
add_test(NAME cuda_fake_info_device_too_old COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_device_too_old PROPERTIES LABELS fake_cuda ENVIRONMENT "${FAKE_CUDA_ENV};FAKE_CUDA_SM=75"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: device 0 \\(Fake CUDA device \\(attngen tests\\)\\) is sm_75. attngen's CUDA kernels need sm_80 or newer \\(cp.async, bf16 tensor cores\\). kernels can still be compiled without a GPU for an explicit arch.*\ncuda +device 0: Fake CUDA device \\(attngen tests\\) \\(sm_75, ")
add_test(NAME cuda_fake_info_init_fails COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_init_fails PROPERTIES LABELS fake_cuda ENVIRONMENT "${FAKE_CUDA_ENV};FAKE_CUDA_FAIL=cuInit:3"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: cuInit failed: CUDA_ERROR_NOT_INITIALIZED \\(initialization error\\). kernels can still")
add_test(NAME cuda_fake_info_driver_lacks_an_entry_point COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_driver_lacks_an_entry_point PROPERTIES LABELS fake_cuda
  ENVIRONMENT "ATTNGEN_NVRTC_LIBRARY=$<TARGET_FILE:fake_nvrtc>;ATTNGEN_CUDA_DRIVER_LIBRARY=$<TARGET_FILE:fake_nvrtc>"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: the CUDA driver \\([^)]*fake_nvrtc[^)]*\\) lacks cuInit. update the NVIDIA driver")
add_test(NAME cuda_fake_info_no_driver_file COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_no_driver_file PROPERTIES LABELS fake_cuda
  ENVIRONMENT "ATTNGEN_NVRTC_LIBRARY=$<TARGET_FILE:fake_nvrtc>;ATTNGEN_CUDA_DRIVER_LIBRARY=/nonexistent/libcuda.so.1"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: no CUDA driver \\(/nonexistent/libcuda.so.1: cannot open shared object file")
add_test(NAME cuda_fake_info_no_nvrtc_file COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_no_nvrtc_file PROPERTIES LABELS fake_cuda
  ENVIRONMENT "ATTNGEN_NVRTC_LIBRARY=/nonexistent/libnvrtc.so.13;ATTNGEN_CUDA_DRIVER_LIBRARY=$<TARGET_FILE:fake_cuda_driver>"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: no NVRTC library \\(/nonexistent/libnvrtc.so.13: cannot open shared object file[^)]*\\). install the CUDA 13 toolkit.*\ncuda +driver 13.0\ncuda +device 0: Fake CUDA device")
# A driver that loads but sees no device, or cannot describe device 0.
add_test(NAME cuda_fake_info_device_count_fails COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_device_count_fails PROPERTIES LABELS fake_cuda
  ENVIRONMENT "${FAKE_CUDA_ENV};FAKE_CUDA_FAIL=cuDeviceGetCount"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: no CUDA device \\(the driver sees none\\). kernels can still.*\ncuda +no CUDA device\n")
add_test(NAME cuda_fake_info_device_attribute_fails COMMAND attngen_cli info)
set_tests_properties(cuda_fake_info_device_attribute_fails PROPERTIES LABELS fake_cuda
  ENVIRONMENT "${FAKE_CUDA_ENV};FAKE_CUDA_FAIL=cuDeviceGetAttribute:101"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: cuDeviceGetAttribute: CUDA_ERROR_INVALID_DEVICE \\(invalid device ordinal\\). kernels can still.*\ncuda +device 0: cuDeviceGetAttribute: CUDA_ERROR_INVALID_DEVICE")
add_test(NAME cuda_fake_nvrtc_lacks_an_entry_point COMMAND attngen_cli info)
set_tests_properties(cuda_fake_nvrtc_lacks_an_entry_point PROPERTIES LABELS fake_cuda
  ENVIRONMENT "ATTNGEN_NVRTC_LIBRARY=$<TARGET_FILE:fake_cuda_driver>;ATTNGEN_CUDA_DRIVER_LIBRARY=$<TARGET_FILE:fake_cuda_driver>"
  PASS_REGULAR_EXPRESSION "cuda +unavailable: NVRTC library lacks nvrtcVersion \\([^)]*fake_cuda_driver[^)]*\\)")

# The CLI's device path on the fakes: verify copies tensors to the device,
# launches and copies o back; the fake computes nothing, so verify must say
# FAIL (it compares what came back). A second process, JIT disabled, loads the
# cubin from the disk cache; bench times launches with device events.
add_test(NAME cuda_fake_cli_verify_then_bench_from_disk
  COMMAND sh -c "rm -rf \"$ATTNGEN_CACHE_DIR\"; $0 verify $1 --backend cuda --batch 2 --q-len 33 --kv-len 70; ATTNGEN_DISABLE_JIT=1 ATTNGEN_VERBOSE=1 $0 compile $1 --backend cuda && $0 bench $1 --backend cuda --batch 2 --q-len 33 --kv-len 70 --reps 3 --rotate 2 --no-peak"
          $<TARGET_FILE:attngen_cli> ${PROJECT_SOURCE_DIR}/specs/examples/padding_causal.json)
set_tests_properties(cuda_fake_cli_verify_then_bench_from_disk PROPERTIES LABELS fake_cuda
  ENVIRONMENT "${FAKE_CUDA_ENV};ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-fake-cli"
  PASS_REGULAR_EXPRESSION "backend +cuda.*result +FAIL.*cache hit \\(disk\\).*kernel +disk cache in .*\"backend\": \"cuda\".*\"ms_median\": [0-9]"
  FAIL_REGULAR_EXPRESSION "result +PASS|rror: ")
# `attngen compile --backend cuda` also stores attngen_merge_states_cuda's
# module for the kernel's arch, which a second compile with JIT disabled then
# loads; `cache ls` lists it beside the kernel.
add_test(NAME cuda_fake_compile_stores_the_merge_module
  COMMAND sh -c "rm -rf \"$ATTNGEN_CACHE_DIR\"; $0 compile $1 --backend cuda --arch sm_80 && ATTNGEN_DISABLE_JIT=1 ATTNGEN_VERBOSE=1 $0 compile $1 --backend cuda --arch sm_80 && $0 cache ls"
          $<TARGET_FILE:attngen_cli> ${PROJECT_SOURCE_DIR}/specs/examples/padding_causal.json)
set_tests_properties(cuda_fake_compile_stores_the_merge_module PROPERTIES LABELS fake_cuda
  ENVIRONMENT "${FAKE_CUDA_ENV};ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-fake-merge-module"
  PASS_REGULAR_EXPRESSION "states +cuda_merge_states, attngen_merge_states_cuda's module .sm_80/nvrtc-13.99/tpl-[0-9a-f]+, [0-9]+ bytes., in the disk cache.*cache hit .disk. module cuda_merge_states.*states +cuda_merge_states.*in the disk cache.* cuda_merge_states/sm_80/.*2 valid entries"
  FAIL_REGULAR_EXPRESSION "rror: |not compiled")

# The kernels themselves, run in the block emulator (tests/cuda_host/README.md):
# the fake NVRTC also builds each for the host, the fake driver runs it, and
# the results are compared with the float64 reference. Per regression spec,
# the backend sweep's cuda cases (smoke lengths, every head dim, GQA ratio and
# layout) on an sm_80 (f32: the CUDA-core kernel; f16, bf16: mma.sync), on an
# sm_80 with the decoding tile of key-split warps (16x32k4; f16, bf16) and on
# an sm_90 with the pipelined and the warp-specialised (ping-pong)
# warpgroup-MMA tiles (f16, bf16); then the GPU
# sweep's GQA variants (packed launches, split-KV and its merge). Label
# cuda_emulated; not in the sanitizer jobs.
if(ATTNGEN_CUDA_EMULATOR)
  add_executable(attngen_cuda_emulator_tests test_cuda_emulator.cpp)
  target_link_libraries(attngen_cuda_emulator_tests PRIVATE attngen_cuda_emulator GTest::gtest GTest::gtest_main)
  target_include_directories(attngen_cuda_emulator_tests PRIVATE ${PROJECT_SOURCE_DIR})
  gtest_discover_tests(attngen_cuda_emulator_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS cuda_emulated)
  set(EMULATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/cuda-emulated)
  file(MAKE_DIRECTORY ${EMULATED_DIR})
  set(EMULATED_ENV "${FAKE_CUDA_ENV};FAKE_NVRTC_EMULATE=${EMULATED_DIR};FAKE_CUDA_GUARD_PAGES=1;ATTNGEN_SWEEP=smoke")
  file(GLOB emulated_specs ${PROJECT_SOURCE_DIR}/specs/regression/*.json)
  foreach(spec ${emulated_specs})
    get_filename_component(name ${spec} NAME_WE)
    string(REGEX REPLACE "[^A-Za-z0-9]" "_" case ${name})
    foreach(target sm_80 sm_80_key_split sm_90a_wgmma sm_90a_ws)
      if(target STREQUAL sm_80)
        set(target_env "FAKE_CUDA_SM=80")
      elseif(target STREQUAL sm_80_key_split)
        set(target_env "FAKE_CUDA_SM=80;ATTNGEN_CUDA_TILE=16x32k4;ATTNGEN_SWEEP_DTYPES=f16,bf16")
      elseif(target STREQUAL sm_90a_wgmma)
        set(target_env "FAKE_CUDA_SM=90;ATTNGEN_CUDA_TILE=128x64wgp;ATTNGEN_SWEEP_DTYPES=f16,bf16")
      else()
        set(target_env "FAKE_CUDA_SM=90;ATTNGEN_CUDA_TILE=128x64wsp;ATTNGEN_SWEEP_DTYPES=f16,bf16")
      endif()
      add_test(NAME cuda_emulated.${target}.${name}
        COMMAND attngen_sweep --gtest_filter=Regression/BackendSweep.MatchesReference/cuda_${case})
      set_tests_properties(cuda_emulated.${target}.${name} PROPERTIES LABELS cuda_emulated TIMEOUT 900
        ENVIRONMENT "${EMULATED_ENV};${target_env};ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-${target}"
        PASS_REGULAR_EXPRESSION "\\[  PASSED  \\] 1 test")
    endforeach()
  endforeach()
  # Head-dim strides other than 1 (test_strided_views.cpp) through the device copies.
  add_test(NAME cuda_emulated.sm_80.strided_views
    COMMAND attngen_sweep --gtest_filter=Backends/StridedViews.HeadDimStridesOtherThanOneMatchTheReference/cuda)
  set_tests_properties(cuda_emulated.sm_80.strided_views PROPERTIES LABELS cuda_emulated TIMEOUT 900
    ENVIRONMENT "${EMULATED_ENV};FAKE_CUDA_SM=80;ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-strided"
    PASS_REGULAR_EXPRESSION "\\[  PASSED  \\] 1 test")
  add_dependencies(attngen_sweep fake_cuda_driver fake_nvrtc)
  # Shared-memory bank conflicts of the 16-bit kernels' copies and fragment
  # loads (FAKE_CUDA_STATS): none at head dims 64 and 128 on the default
  # mma.sync tile and the pipelined and warp-specialised wgmma tiles (the
  # latter with 128-key blocks, which the sweep's head dim 256 would not
  # fit). (Head dims whose padded row is
  # not a multiple of 64 elements, e.g. 40 or 96, take one extra wavefront per
  # cp.async phase on the mma.sync tile: docs/design-cuda.md.)
  add_test(NAME cuda_emulated.no_bank_conflicts
    COMMAND sh -c "for d in 64 128; do sed \"s/\\\"f32\\\"/\\\"f16\\\"/; s/\\\"head_dim\\\": 64/\\\"head_dim\\\": $d/\" $1 > \"$2/none_f16_d$d.json\" && FAKE_CUDA_SM=80 $0 verify \"$2/none_f16_d$d.json\" --backend cuda --batch 1 --q-len 200 --kv-len 300 && FAKE_CUDA_SM=90 ATTNGEN_CUDA_TILE=128x64wgp $0 verify \"$2/none_f16_d$d.json\" --backend cuda --batch 1 --q-len 200 --kv-len 300 && FAKE_CUDA_SM=90 ATTNGEN_CUDA_TILE=128x128ws $0 verify \"$2/none_f16_d$d.json\" --backend cuda --batch 1 --q-len 200 --kv-len 300 || exit 1; done"
            $<TARGET_FILE:attngen_cli> ${PROJECT_SOURCE_DIR}/specs/regression/none.json ${EMULATED_DIR})
  set_tests_properties(cuda_emulated.no_bank_conflicts PROPERTIES LABELS cuda_emulated
    ENVIRONMENT "${EMULATED_ENV};FAKE_CUDA_STATS=1;ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-banks"
    PASS_REGULAR_EXPRESSION "d128_dv128_g1_[0-9a-f]+: ldmatrix [1-9][0-9]* phases, 0 extra wavefronts. cp.async [1-9][0-9]* phases, 0 extra.*d128_dv128_g1_[0-9a-f]+: ldmatrix 0 phases, 0 extra wavefronts. cp.async [1-9][0-9]* phases, 0 extra.*d128_dv128_g1_[0-9a-f]+: ldmatrix 0 phases, 0 extra wavefronts. cp.async [1-9][0-9]* phases, 0 extra.*result +PASS"
    FAIL_REGULAR_EXPRESSION "[1-9][0-9]* extra wavefronts|result +FAIL|attngen: error")
  # A decoding step (one query, 4 query heads a KV head packed into a 128-row
  # tile of 8 warps, 4 blocks of 64 keys, 8 blocks): only the warp with valid
  # rows multiplies, 128 mma.sync a key block (Q K^T 8 x 8, P V 4 x 16).
  file(WRITE ${EMULATED_DIR}/decode_bf16_d128_g4.json
    "{\"dtype\": \"bf16\", \"head_dim\": 128, \"num_heads\": 32, \"num_kv_heads\": 8}\n")
  add_test(NAME cuda_emulated.decode_multiplies_valid_rows_only
    COMMAND attngen_cli verify ${EMULATED_DIR}/decode_bf16_d128_g4.json --backend cuda --batch 1 --q-len 1 --kv-len 256)
  set_tests_properties(cuda_emulated.decode_multiplies_valid_rows_only PROPERTIES LABELS cuda_emulated
    ENVIRONMENT "${EMULATED_ENV};FAKE_CUDA_SM=80;FAKE_CUDA_STATS=1;ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-decode"
    PASS_REGULAR_EXPRESSION "_g4_[0-9a-f]+: ldmatrix [0-9]+ phases, 0 extra wavefronts. cp.async [0-9]+ phases, 0 extra wavefronts. mma.sync 4096\n.*result +PASS"
    FAIL_REGULAR_EXPRESSION "result +FAIL|attngen: error")
  # --cuda-tile on verify: the option's schedule runs (the decoding tile, the
  # environment naming another), and its result passes; a tile with the CPU
  # backend is refused by name.
  add_test(NAME cuda_emulated.verify_cuda_tile_option
    COMMAND sh -c "ATTNGEN_CUDA_TILE=128x32w4 $0 verify $1 --backend cuda --cuda-tile 16x32k4 --batch 1 --q-len 1 --kv-len 77 && ! $0 verify $1 --cuda-tile 16x32k4"
            $<TARGET_FILE:attngen_cli> ${EMULATED_DIR}/decode_bf16_d128_g4.json)
  set_tests_properties(cuda_emulated.verify_cuda_tile_option PROPERTIES LABELS cuda_emulated
    ENVIRONMENT "${EMULATED_ENV};FAKE_CUDA_SM=80;ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-tile-option"
    PASS_REGULAR_EXPRESSION "render +bf16 mma.sync m16n8k16, 16x32 tiles, 4 warps splitting the keys.*result +PASS.*--cuda-tile: a schedule of backend cuda, got backend 'auto'"
    FAIL_REGULAR_EXPRESSION "result +FAIL")
  # attngen_merge_states_cuda through the C ABI, its kernel run in the emulator.
  add_executable(attngen_cuda_merge_states_tests test_cuda_merge_states.cpp)
  target_link_libraries(attngen_cuda_merge_states_tests PRIVATE attngen GTest::gtest GTest::gtest_main ${CMAKE_DL_LIBS})
  target_include_directories(attngen_cuda_merge_states_tests PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(attngen_cuda_merge_states_tests PRIVATE ${FAKE_CUDA_DEFINES}
    ATTNGEN_EMULATED_DIR="${EMULATED_DIR}")
  add_dependencies(attngen_cuda_merge_states_tests fake_cuda_driver fake_nvrtc)
  # (The binary selects the fake libraries and the emulator itself: one variable.)
  gtest_discover_tests(attngen_cuda_merge_states_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS cuda_emulated
    ENVIRONMENT "ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-merge")
  # The host side of the same (checks, module cache, launch) on the fake driver
  # without the emulator, so that the sanitizer job runs it too.
  add_test(NAME cuda_fake_merge_states_launch
    COMMAND attngen_cuda_merge_states_tests
            --gtest_filter=MergeStatesCuda.LaunchesOnce*:MergeStatesCuda.BadArguments*)
  set_tests_properties(cuda_fake_merge_states_launch PROPERTIES LABELS fake_cuda
    ENVIRONMENT "FAKE_NVRTC_EMULATE=;ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-fake-merge"
    PASS_REGULAR_EXPRESSION "\\[  PASSED  \\] 2 tests")
  add_test(NAME cuda_fake_merge_states_no_driver
    COMMAND attngen_cuda_merge_states_tests --gtest_also_run_disabled_tests --gtest_filter=MergeStatesCudaNoDriver.*)
  set_tests_properties(cuda_fake_merge_states_no_driver PROPERTIES LABELS fake_cuda
    ENVIRONMENT "FAKE_CUDA_FAIL=cuInit:3" PASS_REGULAR_EXPRESSION "\\[  PASSED  \\] 1 test")
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_FOUND)
    add_test(NAME cuda_emulated.gqa_packed_and_split
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/gpu_sweep.py $<TARGET_FILE:attngen_cli> --jobs 1
              --only .gqa4.)
    set_tests_properties(cuda_emulated.gqa_packed_and_split PROPERTIES LABELS cuda_emulated TIMEOUT 1800
      ENVIRONMENT "${EMULATED_ENV};FAKE_CUDA_SM=80;ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-gqa"
      PASS_REGULAR_EXPRESSION "cuda sweep: [0-9]+ of [0-9]+ cases passed, 0 not run" FAIL_REGULAR_EXPRESSION "FAIL ")
    # The same cases (bf16) on the decoding tile of key-split warps, as
    # scripts/gpu-check.sh sweeps it: decoding steps packed into 16 rows,
    # split-KV shares that are not a multiple of the warps' step.
    add_test(NAME cuda_emulated.gqa_packed_and_split_key_split
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/gpu_sweep.py $<TARGET_FILE:attngen_cli> --jobs 1
              --only .bf16.d128.dv128.gqa4.)
    set_tests_properties(cuda_emulated.gqa_packed_and_split_key_split PROPERTIES LABELS cuda_emulated TIMEOUT 900
      ENVIRONMENT "${EMULATED_ENV};FAKE_CUDA_SM=80;ATTNGEN_CUDA_TILE=16x32k4;ATTNGEN_CACHE_DIR=${ATTNGEN_TEST_CACHE}/cuda-emulated-gqa-key-split"
      PASS_REGULAR_EXPRESSION "cuda sweep: 95 of 95 cases passed, 0 not run" FAIL_REGULAR_EXPRESSION "FAIL ")
    # scripts/gpu-check.sh's sweeps as a GPU session runs them, on this build
    # and the block emulator (an sm_90 of the fake driver, nvidia-smi a stub),
    # with deadlines of seconds: the script's steps, the schedules it sweeps
    # and how it reads their logs, so that the one call a GPU session has
    # does not end on a broken script. Status 0: no case failed (the deadline
    # leaves most not run) and every schedule passed its sweep.
    set(gpu_check_dir ${CMAKE_CURRENT_BINARY_DIR}/gpu-check)
    file(MAKE_DIRECTORY ${gpu_check_dir}/bin)
    file(WRITE ${gpu_check_dir}/bin/nvidia-smi "#!/bin/sh\necho 'Fake CUDA device (emulated), -, -, -'\n")
    file(CHMOD ${gpu_check_dir}/bin/nvidia-smi PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
         WORLD_READ WORLD_EXECUTE)
    add_test(NAME cuda_emulated.gpu_check_script
      COMMAND sh -c "rm -rf \"$1\" && mkdir -p \"$1\" && PATH=\"$2:$PATH\" OUT=\"$1\" exec bash \"$0\""
              ${PROJECT_SOURCE_DIR}/scripts/gpu-check.sh ${gpu_check_dir}/out ${gpu_check_dir}/bin)
    set_tests_properties(cuda_emulated.gpu_check_script PROPERTIES LABELS cuda_emulated TIMEOUT 600
      ENVIRONMENT "${EMULATED_ENV};FAKE_CUDA_SM=90;GPU_CHECK_PREBUILT=${PROJECT_BINARY_DIR};GPU_CHECK_STEPS=sweep;GPU_SWEEP_SECONDS=3;GPU_SCHEDULE_SWEEP_SECONDS=3;GPU_CHECK_SCHEDULES=128x128wsp,128x64wgp"
      PASS_REGULAR_EXPRESSION "=== sweep .*cuda sweep: [1-9][0-9]* of .*\\[128x128wsp\\] cuda sweep: [1-9][0-9]* of .*\\[128x64wgp\\] cuda sweep: [1-9][0-9]* of .*\\[16x32k4\\] cuda sweep: [1-9][0-9]* of .*=== done, status 0"
      FAIL_REGULAR_EXPRESSION "FAIL |not benched")
  endif()
endif()
