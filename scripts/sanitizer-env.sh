# Sourced by the sanitizer and fuzzing jobs: symbolized stacks, and every
# report fatal (with -fno-sanitize-recover=all in the build).
export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
export LLVM_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
# hard_rss_limit_mb: a test that runs away with memory dies (tests cannot use
# RLIMIT_AS under ASan or TSan, whose shadow memory needs terabytes of address space).
# intercept_tls_get_addr=0: clang 14's runtime misreads the dynamic TLS of
# a dlopen'ed NVRTC on Debian 12's glibc (a block at 0x16f0 of 128 GiB), and
# LeakSanitizer's stop-the-world then dies at exit ("Tracer caught signal 11")
# depending on the process's memory layout: cuda_compile.sm_80.document_custom_window
# did, every time, in a clean clone once the build counted coverage. Leak
# checking still covers the heap, the stacks and static TLS.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:hard_rss_limit_mb=6144:intercept_tls_get_addr=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:hard_rss_limit_mb=6144}
# The asan build counts coverage too (scripts/coverage-report.sh): every
# process of it adds its counts to a few files per binary here, wherever it runs.
export LLVM_PROFILE_FILE=${LLVM_PROFILE_FILE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build-asan/profiles/%4m.profraw}
