// The block emulator's barriers beyond __syncthreads (emulator.hpp), from the
// PTX ISA: mbarrier objects in shared memory (init, arrive, try_wait.parity,
// cp.async.mbarrier.arrive.noinc), named barriers (bar.sync / bar.arrive with
// a thread count) and setmaxnreg, which only checks its operand here.
#include <string>

#include "tests/cuda_host/block.hpp"

namespace agemu {
using namespace block;
namespace {

std::string at_offset(const char* op, unsigned offset) {
  return std::string(op) + " at shared offset " + std::to_string(offset);
}

// The initialised mbarrier at `offset`, else an error.
Mbarrier& mbarrier_at(unsigned offset, const char* op) {
  check_shared(offset, 8, 8, op);
  const auto it = emu->mbarriers.find(offset);
  if (it == emu->mbarriers.end()) fail(at_offset(op, offset) + ": no mbarrier.init has initialised a barrier there");
  return it->second;
}

// One arrival: the pending count drops; at zero the phase completes. The
// copies handed to it land first (the noinc arrivals they stand for are the
// ones that complete it on the hardware), then the next phase begins with
// the expected count, and its waiters go on.
void arrive_once(Mbarrier& b) {
  if (--b.pending > 0) return;
  for (const auto& [tid, through] : b.handed) land_copies(emu->fibers[tid], through);
  b.handed.clear();
  ++b.phase;
  b.pending = b.expected;
  for (unsigned t : b.waiters) wake(emu->fibers[t]);
  b.waiters.clear();
}

}  // namespace

// ---- mbarrier
void mbarrier_init(unsigned offset, unsigned count) {
  check_shared(offset, 8, 8, "mbarrier.init");
  if (count < 1 || count > (1u << 20) - 1)
    fail(at_offset("mbarrier.init", offset) + ": count " + std::to_string(count) + " outside 1 .. 2^20 - 1");
  Mbarrier& b = emu->mbarriers[offset];
  bool copies_pending = false;
  for (const auto& [tid, through] : b.handed)
    copies_pending = copies_pending || through > emu->fibers[tid].copies_landed;
  if (!b.waiters.empty() || copies_pending)
    fail(at_offset("mbarrier.init", offset) +
         ": initialised again while threads wait on it or copies are handed to it");
  b = Mbarrier{};
  b.expected = b.pending = count;
}

void mbarrier_arrive(unsigned offset) { arrive_once(mbarrier_at(offset, "mbarrier.arrive")); }

// The arrival counts now; the copies the thread issued before it land when
// the phase completes, unless a wait_group of the thread lands them sooner.
void cp_async_mbarrier_arrive_noinc(unsigned offset) {
  Mbarrier& b = mbarrier_at(offset, "cp.async.mbarrier.arrive.noinc");
  Fiber& f = self();
  close_copy_batch(f);
  if (f.copies_issued > f.copies_landed) b.handed.emplace_back(f.tid, f.copies_issued);
  arrive_once(b);
}

// try_wait.parity p is true once the phase of parity p has completed: while
// the current phase has parity p, it has not.
void mbarrier_wait_parity(unsigned offset, unsigned parity) {
  const char* op = "mbarrier.try_wait.parity";
  Mbarrier& b = mbarrier_at(offset, op);
  if (parity > 1) fail(at_offset(op, offset) + ": parity " + std::to_string(parity) + " (a phase parity is 0 or 1)");
  const uint64_t began = b.phase;
  while ((b.phase & 1) == parity) {
    // Two phases completed before this thread saw the first: on the GPU it
    // could have missed it too and would wait a phase longer, or for ever.
    if (b.phase != began)
      fail(at_offset(op, offset) + ", parity " + std::to_string(parity) +
           ": the barrier completed two phases while this thread waited for one");
    b.waiters.push_back(self().tid);
    block_on(at_offset(op, offset) + ", parity " + std::to_string(parity));
  }
}

// ---- bar.sync / bar.arrive id, threads: the barrier completes (and resets)
// when `threads` arrivals have been counted; bar.arrive does not wait for it.
void named_barrier(unsigned id, unsigned threads, bool sync) {
  const std::string op =
      std::string(sync ? "bar.sync " : "bar.arrive ") + std::to_string(id) + ", " + std::to_string(threads);
  if (id > 15) fail(op + ": barrier ids are 0 .. 15");
  if (threads == 0 || threads % 32 != 0 || threads > emu->fibers.size())
    fail(op + ": the thread count must be a multiple of 32 and at most the block's " +
         std::to_string(emu->fibers.size()));
  NamedBarrier& b = emu->named[id];
  if (b.arrived.empty()) b.threads = threads;
  else if (b.threads != threads)
    fail(op + ": threads already arrived at barrier " + std::to_string(id) + " name " + std::to_string(b.threads));
  Fiber& f = self();
  b.arrived.push_back(f.tid);
  if (b.arrived.size() < threads) {
    if (!sync) return;
    const uint64_t generation = b.generation;
    b.waiters.push_back(f.tid);
    while (b.generation == generation) block_on(op);
    return;
  }
  // bar is .aligned: the threads of a warp execute it together, so a
  // completion counts whole warps.
  unsigned per_warp[32] = {};
  for (unsigned t : b.arrived) ++per_warp[t / 32];
  for (unsigned w = 0; w < 32; ++w)
    if (per_warp[w] % 32 != 0)
      fail(op + ": the barrier completed with " + std::to_string(per_warp[w]) + " threads of warp " +
           std::to_string(w) + " (bar is .aligned: all threads of a warp execute it)");
  b.arrived.clear();
  ++b.generation;
  for (unsigned t : b.waiters) wake(emu->fibers[t]);
  b.waiters.clear();
}

// ---- setmaxnreg.{inc,dec}.sync.aligned.u32 regs: a warpgroup collective
void setmaxnreg(int regs, bool inc) {
  const char* op = inc ? "setmaxnreg.inc" : "setmaxnreg.dec";
  if (regs < 24 || regs > 256 || regs % 8 != 0)
    fail(std::string(op) + " " + std::to_string(regs) + ": the count must be 24 .. 256 and a multiple of 8");
  Fiber& f = self();
  Warpgroup& wg = warpgroup_of(f);
  wg.sync.lanes[f.tid % 128].n = regs;
  arrive(wg.sync, op, f.tid / 128 * 128, 128, [&wg, op] {
    for (const LaneData& x : wg.sync.lanes)
      if (x.n != wg.sync.lanes[0].n) fail(std::string(op) + ": the threads of a warpgroup disagree on the count");
  });
}

}  // namespace agemu
