#include "runtime/cuda/ptxas_report.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace attngen::cuda {
namespace {

// The integer just before `unit` in `line` (e.g. "1024" of "1024 bytes smem"), or -1.
int64_t number_before(const std::string& line, const std::string& unit) {
  const size_t at = line.find(unit);
  if (at == std::string::npos || at == 0) return -1;
  size_t start = at;
  while (start > 0 && line[start - 1] == ' ') --start;
  size_t end = start;
  while (start > 0 && line[start - 1] >= '0' && line[start - 1] <= '9') --start;
  if (start == end) return -1;
  return std::strtoll(line.c_str() + start, nullptr, 10);
}

}  // namespace

PtxasReport parse_ptxas_report(const std::string& log, const std::string& entry) {
  PtxasReport r;
  std::istringstream in(log);
  std::string line;
  // Lines after "Function properties for <entry>" / "Compiling entry function '<entry>'"
  // belong to the entry until another function's header.
  bool ours = false;
  while (std::getline(in, line)) {
    // Said before the entry's header, naming it.
    if (line.find("wgmma.mma_async instructions are serialized") != std::string::npos &&
        line.find("'" + entry + "'") != std::string::npos)
      r.wgmma_serialized = true;
    if (line.find("Function properties for ") != std::string::npos) {
      ours = line.substr(line.find("for ") + 4) == entry;
      continue;
    }
    if (line.find("Compiling entry function '") != std::string::npos) {
      ours = line.find("'" + entry + "'") != std::string::npos;
      continue;
    }
    if (!ours) continue;
    if (line.find("bytes spill stores") != std::string::npos) {
      r.stack_bytes = std::max<int64_t>(0, number_before(line, " bytes stack frame"));
      r.spill_stores = std::max<int64_t>(0, number_before(line, " bytes spill stores"));
      r.spill_loads = std::max<int64_t>(0, number_before(line, " bytes spill loads"));
    } else if (line.find("Used ") != std::string::npos && line.find(" registers") != std::string::npos) {
      r.found = true;
      r.registers = int(std::max<int64_t>(0, number_before(line, " registers")));
      r.static_smem = std::max<int64_t>(0, number_before(line, " bytes smem"));
    }
  }
  return r;
}

std::string PtxasReport::describe() const {
  if (!found) return "no ptxas report";
  return "registers " + std::to_string(registers) + ", spill stores " + std::to_string(spill_stores) +
         " B, spill loads " + std::to_string(spill_loads) + " B, stack " + std::to_string(stack_bytes) +
         " B, static smem " + std::to_string(static_smem) + " B" + (wgmma_serialized ? ", wgmma serialized" : "");
}

}  // namespace attngen::cuda
