// The block emulator of emulator.hpp: fibers, the launch and its scheduler,
// the warp built-ins, cp.async and the element conversions (the tensor-core
// instructions are tensor_cores.cpp; mbarriers, named barriers and setmaxnreg
// barriers.cpp). Fibers switch with a few instructions of x86-64 assembly
// (swapcontext's signal-mask system call would cost more than the kernel's
// work): a block of 256 threads reaches a collective a few hundred times per
// key block.
#include "tests/cuda_host/emulator.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "tests/cuda_host/block.hpp"

#if !defined(__x86_64__)
#error "the CUDA emulator's fibers switch with x86-64 assembly"
#endif

extern "C" {
// Saves the callee-saved registers, MXCSR and the x87 control word on the
// current stack, stores its pointer in *save_sp, and resumes the context
// saved at load_sp.
__attribute__((visibility("hidden"))) void agemu_switch_context(void** save_sp, void* load_sp);
// Where a new fiber starts: calls agemu_fiber_main.
__attribute__((visibility("hidden"))) void agemu_fiber_start();
__attribute__((visibility("hidden"))) void agemu_fiber_main();
}

asm(R"(
  .text
  .p2align 4
  .globl agemu_switch_context
  .hidden agemu_switch_context
  .type agemu_switch_context, @function
agemu_switch_context:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  stmxcsr 8(%rsp)
  fnstcw (%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr 8(%rsp)
  fldcw (%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size agemu_switch_context, .-agemu_switch_context

  .p2align 4
  .globl agemu_fiber_start
  .hidden agemu_fiber_start
  .type agemu_fiber_start, @function
agemu_fiber_start:
  call agemu_fiber_main
  ud2
  .size agemu_fiber_start, .-agemu_fiber_start
)");


namespace agemu {
namespace block {

thread_local Emulator* emu = nullptr;

void yield() { agemu_switch_context(&self().sp, emu->scheduler_sp); }

void fail(const std::string& what) {
  if (emu->error.empty()) {
    std::ostringstream o;
    o << "block (" << emu->block_idx.x << ", " << emu->block_idx.y << ", " << emu->block_idx.z << ") thread "
      << self().tid << ": " << what;
    emu->error = o.str();
  }
  self().state = State::done;
  yield();
  __builtin_trap();  // never resumed
}

void check_shared(unsigned offset, unsigned bytes, unsigned align, const char* op) {
  if (offset % align != 0 || uint64_t(offset) + bytes > emu->smem_bytes) {
    std::ostringstream o;
    o << op << " at shared offset " << offset << " (" << bytes << " bytes, alignment " << align
      << ") outside the block's " << emu->smem_bytes << " bytes of shared memory or misaligned";
    fail(o.str());
  }
}

unsigned extra_wavefronts(const unsigned* offsets, int n) {
  unsigned worst = 0;
  for (unsigned bank = 0; bank < 8; ++bank) {
    unsigned distinct = 0;
    for (int i = 0; i < n; ++i) {
      if (offsets[i] / 16 % 8 != bank) continue;
      bool seen = false;
      for (int j = 0; j < i; ++j) seen = seen || offsets[j] / 16 == offsets[i] / 16;
      distinct += !seen;
    }
    worst = std::max(worst, distinct);
  }
  return worst > 1 ? worst - 1 : 0;
}

}  // namespace block

using namespace block;

namespace {

constexpr size_t kStackBytes = 256 * 1024;

std::mutex stats_mu;
LaunchStats stats;

void require_full_mask(unsigned mask, const char* op) {
  if (mask != 0xffffffffu) fail(std::string(op) + " with a partial mask, which the emulator does not model");
}

}  // namespace

void block::count_ldmatrix_phase(unsigned extra) {
  const std::lock_guard<std::mutex> lock(stats_mu);
  ++stats.ldmatrix_phases;
  stats.ldmatrix_extra += extra;
}

void block::count_cp_async_phase(unsigned extra) {
  const std::lock_guard<std::mutex> lock(stats_mu);
  ++stats.cp_async_phases;
  stats.cp_async_extra += extra;
}

void block::count_mma_sync() {
  const std::lock_guard<std::mutex> lock(stats_mu);
  ++stats.mma_sync;
}

LaunchStats take_launch_stats() {
  const std::lock_guard<std::mutex> lock(stats_mu);
  const LaunchStats s = stats;
  stats = LaunchStats{};
  return s;
}

// ---- conversions
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float f;
  if (exp == 0x1f) {
    const uint32_t u = sign | 0x7f800000u | (man << 13);
    std::memcpy(&f, &u, 4);
    return f;
  }
  f = exp == 0 ? std::ldexp(float(man), -24) : std::ldexp(float(man | 0x400), int(exp) - 25);
  return sign ? -f : f;
}

uint16_t float_to_half_rn(float f) {
  const uint32_t u = bits_of(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  if (std::isnan(f)) return 0x7fff;  // PTX's canonical NaN
  const float a = std::fabs(f);
  if (a >= 65520.f) return sign | 0x7c00;  // rounds past the largest half
  if (a < std::ldexp(1.f, -14)) {          // subnormal (or zero): multiples of 2^-24
    const float q = std::nearbyint(a * std::ldexp(1.f, 24));  // round half to even (default mode)
    return sign | uint16_t(q);
  }
  int e;
  const float m = std::frexp(a, &e);                       // a = m 2^e, m in [0.5, 1)
  float q = std::nearbyint(std::ldexp(m, 11));             // 11 significant bits
  if (q == 2048.f) q = 1024.f, ++e;
  return sign | uint16_t((e + 14) << 10) | uint16_t(uint32_t(q) & 0x3ff);
}

uint16_t float_to_bf16_rn(float f) {
  if (std::isnan(f)) return 0x7fff;
  const uint32_t u = bits_of(f);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

float ex2_approx_ftz(float x) {
  if (std::fpclassify(x) == FP_SUBNORMAL) x = 0.f;
  const float y = std::exp2(x);
  return std::fpclassify(y) == FP_SUBNORMAL ? 0.f : y;
}

// ---- built-ins
ag_dim3 thread_idx() { return {self().tid % emu->block.x, self().tid / emu->block.x % emu->block.y, self().tid / (emu->block.x * emu->block.y)}; }
ag_dim3 block_idx() { return emu->block_idx; }
ag_dim3 grid_dim() { return emu->grid; }
ag_dim3 block_dim() { return emu->block; }

void sync_threads() {
  arrive(emu->barrier, "__syncthreads", 0, unsigned(emu->fibers.size()), [] {});
}

void sync_warp() {
  Fiber& f = self();
  arrive(warp_of(f), "__syncwarp", warp_first(f), 32, [] {});
}

float shfl_xor(unsigned mask, float value, int lane_mask) {
  require_full_mask(mask, "__shfl_xor_sync");
  Fiber& f = self();
  Collective& c = warp_of(f);
  float out = 0.f;
  LaneData& me = c.lanes[lane_of(f)];
  me.value = value, me.lane_mask = lane_mask, me.out = &out;
  arrive(c, "__shfl_xor_sync", warp_first(f), 32, [&c] {
    for (unsigned l = 0; l < 32; ++l) *c.lanes[l].out = c.lanes[(l ^ unsigned(c.lanes[l].lane_mask)) & 31].value;
  });
  return out;
}

bool any(unsigned mask, bool predicate) {
  require_full_mask(mask, "__any_sync");
  Fiber& f = self();
  Collective& c = warp_of(f);
  bool out = false;
  LaneData& me = c.lanes[lane_of(f)];
  me.pred = predicate, me.out_pred = &out;
  arrive(c, "__any_sync", warp_first(f), 32, [&c] {
    bool r = false;
    for (unsigned l = 0; l < 32; ++l) r = r || c.lanes[l].pred;
    for (unsigned l = 0; l < 32; ++l) *c.lanes[l].out_pred = r;
  });
  return out;
}

unsigned shared_offset(const void* ptr) {
  const auto* p = static_cast<const unsigned char*>(ptr);
  if (p < emu->smem || p > emu->smem + emu->smem_bytes)
    fail("cvta.to.shared of a pointer outside the block's shared memory");
  return unsigned(p - emu->smem);
}

// ---- cp.async: the destination is undefined (poison) until the copy lands,
// at the wait_group that retires its group or when the mbarrier phase that a
// cp.async.mbarrier.arrive handed it to completes (barriers.cpp)
void cp_async16(unsigned smem_offset, const void* gmem, unsigned src_size) {
  check_shared(smem_offset, 16, 16, "cp.async");
  if (src_size != 0 && src_size != 16) fail("cp.async: a source size other than 0 or 16");
  if (src_size && reinterpret_cast<uintptr_t>(gmem) % 16 != 0) fail("cp.async: a source address not 16-byte aligned");
  for (unsigned at : {smem_offset, smem_offset + 8})
    if (emu->mbarriers.count(at)) fail("cp.async onto the mbarrier at shared offset " + std::to_string(at));
  std::memset(emu->smem + smem_offset, kSharedPoison, 16);
  Fiber& f = self();
  f.open_copies.push_back({smem_offset, gmem, src_size, f.copies_issued++});
  f.stats_dst.push_back(smem_offset);
}

void block::close_copy_batch(Fiber& f) {
  Collective& warp = warp_of(f);
  const unsigned number = f.stats_batches++;
  CopyBatch& g = warp.copy_batches[number];
  g.dst[lane_of(f)] = std::move(f.stats_dst);
  f.stats_dst.clear();
  if (++g.closed == 32) {
    size_t most = 0;
    for (const auto& lane : g.dst) most = std::max(most, lane.size());
    for (size_t k = 0; k < most; ++k)
      for (int q = 0; q < 4; ++q) {  // quarter warps
        unsigned offsets[8];
        int n = 0;
        for (int l = 8 * q; l < 8 * q + 8; ++l)
          if (k < g.dst[l].size()) offsets[n++] = g.dst[l][k];
        if (n) count_cp_async_phase(extra_wavefronts(offsets, n));
      }
    warp.copy_batches.erase(number);
  }
}

namespace {

// Drops what has landed: the oldest groups (a later wait_group does not wait
// for them) and, when no group is left, the landed uncommitted copies.
void drop_landed(Fiber& f) {
  const auto landed = [&f](const Copy& c) { return c.serial < f.copies_landed; };
  while (!f.copy_groups.empty() && (f.copy_groups.front().empty() || landed(f.copy_groups.front().back())))
    f.copy_groups.pop_front();
  if (f.copy_groups.empty())
    f.open_copies.erase(f.open_copies.begin(), std::find_if_not(f.open_copies.begin(), f.open_copies.end(), landed));
}

}  // namespace

void block::land_copies(Fiber& f, uint64_t through) {
  // Returns false at the first copy issued at or after `through`.
  const auto land = [&f, through](const std::vector<Copy>& copies) {
    for (const Copy& c : copies) {
      if (c.serial >= through) return false;
      if (c.serial < f.copies_landed) continue;
      std::memset(emu->smem + c.dst, 0, 16);
      if (c.size) std::memcpy(emu->smem + c.dst, c.src, c.size);
    }
    return true;
  };
  bool more = true;
  for (auto g = f.copy_groups.begin(); more && g != f.copy_groups.end(); ++g) more = land(*g);
  if (more) land(f.open_copies);
  f.copies_landed = std::max(f.copies_landed, std::min(through, f.copies_issued));
  drop_landed(f);
}

void cp_async_commit() {
  Fiber& f = self();
  close_copy_batch(f);
  f.copy_groups.push_back(std::move(f.open_copies));
  f.open_copies.clear();
  drop_landed(f);
}

void cp_async_wait(int pending) {
  Fiber& f = self();
  while (f.copy_groups.size() > size_t(pending)) {
    const std::vector<Copy>& oldest = f.copy_groups.front();
    if (oldest.empty()) f.copy_groups.pop_front();
    else land_copies(f, oldest.back().serial + 1);  // drops it
  }
}

// ---- the launch
extern "C" void agemu_fiber_main() {
  emu->body(emu->params);
  self().state = State::done;
  yield();
  __builtin_trap();
}

namespace {

struct Stacks {
  std::vector<unsigned char*> maps;
  ~Stacks() {
    for (unsigned char* m : maps) munmap(m, kStackBytes + size_t(getpagesize()));
  }
  unsigned char* get(size_t i) {
    while (maps.size() <= i) {
      const size_t page = size_t(getpagesize());
      void* m = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return nullptr;
      mprotect(m, page, PROT_NONE);  // an overflow faults rather than corrupting its neighbour
      maps.push_back(static_cast<unsigned char*>(m));
    }
    return maps[i] + getpagesize();
  }
};

// A new fiber's stack, as agemu_switch_context leaves a saved one: x87
// control word and MXCSR, r15 .. r12, rbx, rbp (all zero), then the
// return address; 16-byte aligned at agemu_fiber_start's call.
void* initial_stack(unsigned char* stack) {
  auto* top = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(stack + kStackBytes) & ~uintptr_t(15));
  uint64_t* sp = top - 11;
  sp[0] = 0x037f;                                  // x87 control word (default)
  sp[1] = 0x1f80;                                  // MXCSR (default)
  sp[2] = sp[3] = sp[4] = sp[5] = sp[6] = sp[7] = 0;  // r15, r14, r13, r12, rbx, rbp
  sp[8] = reinterpret_cast<uint64_t>(&agemu_fiber_start);
  return sp;
}

std::string deadlock_report(const Emulator& e) {
  std::map<std::string, int> at;
  for (const Fiber& f : e.fibers)
    ++at[f.state == State::done       ? std::string("ended")
         : !f.waiting_for.empty()     ? "wait at " + f.waiting_for
                                      : "wait at " + std::string(f.waiting_at ? f.waiting_at : "?")];
  std::ostringstream o;
  o << "block (" << e.block_idx.x << ", " << e.block_idx.y << ", " << e.block_idx.z << "): deadlock:";
  const char* sep = " ";
  for (const auto& [what, n] : at) o << sep << n << " threads " << what, sep = ", ";
  return o.str();
}

std::string run_block(Emulator& e, Stacks& stacks) {
  std::memset(e.smem, kSharedPoison, e.smem_bytes);
  const unsigned threads = unsigned(e.fibers.size());
  e.barrier = Collective{};
  for (Collective& w : e.warps) w = Collective{}, w.lanes.resize(32);
  for (Warpgroup& w : e.warpgroups) w = Warpgroup{}, w.sync.lanes.resize(128);
  e.mbarriers.clear();
  for (NamedBarrier& b : e.named) b = NamedBarrier{};
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = e.fibers[t];
    f = Fiber{};
    f.tid = t;
    unsigned char* stack = stacks.get(t);
    if (!stack) return "cannot map a fiber stack";
    f.sp = initial_stack(stack);
  }
  // Each fiber runs until it waits; odd blocks take them last to first, so
  // that a read of another warp's shared memory without a barrier between
  // finds it unwritten (NaN) in one order or the other.
  const bool backwards = (e.block_idx.x + e.block_idx.y + e.block_idx.z) % 2 == 1;
  for (;;) {
    bool ran = false, live = false;
    for (unsigned i = 0; i < threads; ++i) {
      Fiber& f = e.fibers[backwards ? threads - 1 - i : i];
      if (f.state == State::ready) {
        e.current = &f;
        agemu_switch_context(&e.scheduler_sp, f.sp);
        ran = true;
        if (!e.error.empty()) return e.error;
      }
      live = live || f.state != State::done;
    }
    if (!live) break;
    if (!ran) return deadlock_report(e);
  }
  std::ostringstream o;
  o << "block (" << e.block_idx.x << ", " << e.block_idx.y << ", " << e.block_idx.z << "): ";
  for (const auto& [offset, b] : e.mbarriers)
    for (const auto& [tid, through] : b.handed)
      if (through > e.fibers[tid].copies_landed)
        return o.str() + "thread " + std::to_string(tid) +
               " ended with cp.async copies handed to the mbarrier at shared offset " + std::to_string(offset) +
               " (cp.async.mbarrier.arrive.noinc), whose phase never completed";
  for (const Fiber& f : e.fibers)
    if (f.copies_landed < f.copies_issued)
      return o.str() + "thread " + std::to_string(f.tid) + " ended with cp.async copies it never waited for";
  for (const Warpgroup& w : e.warpgroups)
    if (!w.open.empty() || !w.groups.empty())
      return o.str() + "a warpgroup ended with wgmma operations it never waited for";
  return "";
}

}  // namespace

// A fault while a kernel runs (an address no allocation holds: past a tensor's
// end under the fake driver's guard pages, or a fiber's stack overflowing)
// names the block and thread, then ends the process as the fault would have.
void on_fault(int sig, siginfo_t* info, void*) {
  char msg[256];
  const Emulator* e = emu;
  const int n = e && e->current
                    ? std::snprintf(msg, sizeof msg,
                                    "CUDA emulator: block (%u, %u, %u) thread %u touched %p, which no allocation "
                                    "holds (an illegal address on a GPU)\n",
                                    e->block_idx.x, e->block_idx.y, e->block_idx.z, e->current->tid, info->si_addr)
                    : std::snprintf(msg, sizeof msg, "CUDA emulator: fault at %p\n", info->si_addr);
  if (n > 0) (void)!write(2, msg, size_t(n));
  signal(sig, SIG_DFL);
  raise(sig);
}

// The fault handler for one launch, on a stack of its own (a fiber's may be
// the one that overflowed).
class FaultReport {
 public:
  FaultReport() : alt_(1 << 16) {
    stack_t ss{};
    ss.ss_sp = alt_.data();
    ss.ss_size = alt_.size();
    sigaltstack(&ss, &old_stack_);
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv_);
    sigaction(SIGBUS, &sa, &old_bus_);
  }
  ~FaultReport() {
    sigaction(SIGSEGV, &old_segv_, nullptr);
    sigaction(SIGBUS, &old_bus_, nullptr);
    sigaltstack(&old_stack_, nullptr);
  }

 private:
  std::vector<char> alt_;
  stack_t old_stack_{};
  struct sigaction old_segv_ {}, old_bus_{};
};

std::string launch(ThreadBody body, const LaunchConfig& config, void** params, unsigned char* smem, size_t capacity) {
  if (config.shared_bytes > capacity) return "the launch asks for more shared memory than the emulator has";
  const unsigned threads = config.block[0] * config.block[1] * config.block[2];
  if (threads == 0 || threads > 1024) return "a block of " + std::to_string(threads) + " threads";
  Emulator e;
  e.body = body, e.params = params, e.smem = smem, e.smem_bytes = config.shared_bytes;
  e.grid = {config.grid[0], config.grid[1], config.grid[2]};
  e.block = {config.block[0], config.block[1], config.block[2]};
  e.fibers.resize(threads);
  e.warps.resize((threads + 31) / 32);
  e.warpgroups.resize(threads / 128);
  if (threads % 32 != 0) return "a block that is not whole warps";
  Stacks stacks;
  const FaultReport fault_report;
  Emulator* const outer = emu;
  emu = &e;
  std::string error;
  for (unsigned z = 0; z < e.grid.z && error.empty(); ++z)
    for (unsigned y = 0; y < e.grid.y && error.empty(); ++y)
      for (unsigned x = 0; x < e.grid.x && error.empty(); ++x) {
        e.block_idx = {x, y, z};
        error = run_block(e, stacks);
      }
  emu = outer;
  return error;
}

}  // namespace agemu
