// ptxas's resource report for one kernel, parsed from the NVRTC program log
// of a compile with --ptxas-options=-v:
//   ptxas info    : Function properties for attngen_fwd
//   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//   ptxas info    : Used 128 registers, used 1 barriers, 1024 bytes smem, ...
#pragma once

#include <cstdint>
#include <string>

namespace attngen::cuda {

struct PtxasReport {
  bool found = false;  // the log held the entry's "Used N registers" line
  int registers = 0;
  int64_t spill_stores = 0, spill_loads = 0;  // bytes
  int64_t stack_bytes = 0;
  int64_t static_smem = 0;  // bytes of __shared__ arrays (dynamic shared memory is the launch's)
  // ptxas made the entry's wgmma instructions wait for each other (C7514: a
  // register of one in flight is touched, or one is issued behind a branch):
  // the kernel is right but loses the overlap it was written for.
  bool wgmma_serialized = false;
  // "registers 128, spill stores 0 B, spill loads 0 B, stack 0 B, static smem 0 B"
  // (then ", wgmma serialized" when it is)
  std::string describe() const;
};

// The report of `entry` in `log` (found = false when it is not there).
PtxasReport parse_ptxas_report(const std::string& log, const std::string& entry);

}  // namespace attngen::cuda
