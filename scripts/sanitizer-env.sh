# Sourced by the sanitizer and fuzzing jobs: symbolized stacks, and every
# report fatal (with -fno-sanitize-recover=all in the build).
export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
export LLVM_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
# hard_rss_limit_mb: a test that runs away with memory dies (tests cannot use
# RLIMIT_AS under ASan or TSan, whose shadow memory needs terabytes of address space).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:hard_rss_limit_mb=6144}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:hard_rss_limit_mb=6144}
# The asan build counts coverage too (scripts/coverage-report.sh): every
# process of it adds its counts to a few files per binary here, wherever it runs.
export LLVM_PROFILE_FILE=${LLVM_PROFILE_FILE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build-asan/profiles/%4m.profraw}
