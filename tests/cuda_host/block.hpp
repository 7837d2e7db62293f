// The block emulator's state and its collectives, shared by emulator.cpp
// (fibers, the launch, built-ins, cp.async), tensor_cores.cpp (ldmatrix,
// mma.sync, wgmma) and barriers.cpp (mbarriers, named barriers, setmaxnreg).
// Internal to libattngen_cuda_emulator.so.
#ifndef ATTNGEN_TESTS_CUDA_HOST_BLOCK_HPP
#define ATTNGEN_TESTS_CUDA_HOST_BLOCK_HPP

#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/cuda_host/emulator.hpp"

namespace agemu::block {

// What shared memory holds before anything writes it (0xffff: a 16-bit NaN;
// 0xffffffff: an f32 NaN), and the accumulators of a wgmma in flight.
constexpr unsigned char kSharedPoison = 0xff;
constexpr uint32_t kInFlightBits = 0x7fc0deadu;

enum class State { ready, waiting, done };

struct Copy {  // one cp.async
  unsigned dst;
  const void* src;
  unsigned size;
  uint64_t serial;  // its number among the thread's copies, from 0
};

// A thread's copies land in the order it issued them (a wait_group lands the
// oldest groups, a cp.async.mbarrier.arrive everything issued before it), so
// the landed ones are always its first `copies_landed`.
struct Fiber {
  void* sp = nullptr;
  unsigned tid = 0;
  State state = State::ready;
  const char* waiting_at = nullptr;
  std::string waiting_for;                       // instead of waiting_at, where the wait has operands to name
  std::vector<Copy> open_copies;                 // not yet committed
  std::deque<std::vector<Copy>> copy_groups;     // committed, not all landed
  uint64_t copies_issued = 0, copies_landed = 0;
  std::vector<unsigned> stats_dst;               // cp.async destinations since the last commit or noinc arrive
  unsigned stats_batches = 0;
};

// What each participant of a collective leaves for the one that completes it.
struct LaneData {
  float value;
  bool pred;
  int lane_mask;
  float* out;
  bool* out_pred;
  unsigned addr;
  uint32_t* regs;
  const uint32_t* a;
  const uint32_t* b;
  const float* c;
  float* d;
  int n, trans_a, trans_b;
  uint64_t a_desc, b_desc;
  bool scale_d;
  Mma16 type;
};

// The cp.async destinations of a warp's lanes in one commit group (or up to
// one cp.async.mbarrier.arrive), kept until every lane has closed it (bank
// statistics: the k-th copies of the lanes are taken as one instruction).
struct CopyBatch {
  std::vector<unsigned> dst[32];
  int closed = 0;  // lanes that have closed it
};

struct Collective {
  int arrived = 0;
  const char* op = nullptr;
  std::vector<LaneData> lanes;
  std::map<unsigned, CopyBatch> copy_batches;  // a warp's, by batch number
};

// Extra wavefronts of one phase: 16-byte pieces at `offsets` (shared-memory
// bytes) on 8 bank groups of 16 bytes; identical addresses are one access.
unsigned extra_wavefronts(const unsigned* offsets, int n);
// Adds to the statistics of take_launch_stats().
void count_ldmatrix_phase(unsigned extra);
void count_cp_async_phase(unsigned extra);
void count_mma_sync();

// One warpgroup MMA in flight: its operands as read at issue, to be read
// again and compared when it is done.
struct WgmmaOp {
  int n = 0;
  uint64_t a_desc = 0, b_desc = 0;
  int trans_a = 0, trans_b = 0;
  bool scale_d = false, chained = false;  // chained: D is an earlier op's in flight
  Mma16 type = Mma16::bf16;
  std::vector<const uint32_t*> a_regs;  // per thread, or empty (A in shared memory)
  std::vector<float*> d;                // per thread
  std::vector<float> a, b, c;           // A 64 x 16, B 16 x n, C 64 x n (unchained, scale_d)
};

struct Warpgroup {
  Collective sync;
  bool fenced = false;  // a wgmma.fence since the block's start or the last wait_group
  std::vector<WgmmaOp> open;
  std::deque<std::vector<WgmmaOp>> groups;
};

// An mbarrier object (8 bytes of shared memory), by its offset.
struct Mbarrier {
  unsigned expected = 0, pending = 0;
  uint64_t phase = 0;                            // the current phase's number: its parity is phase & 1
  std::vector<unsigned> waiters;                 // threads in try_wait.parity
  std::vector<std::pair<unsigned, uint64_t>> handed;  // (thread, its copies before serial): land at completion
};

// bar.sync / bar.arrive id, threads: arrivals since the barrier last reset.
struct NamedBarrier {
  unsigned threads = 0;                          // the count the current arrivals name
  std::vector<unsigned> arrived;                 // threads, once per arrival
  std::vector<unsigned> waiters;                 // the bar.sync ones among them
  uint64_t generation = 0;                       // how many times it has reset
};

struct Emulator {
  ThreadBody body = nullptr;
  void** params = nullptr;
  unsigned char* smem = nullptr;
  unsigned smem_bytes = 0;
  ag_dim3 grid{}, block{}, block_idx{};
  std::vector<Fiber> fibers;
  Fiber* current = nullptr;
  void* scheduler_sp = nullptr;
  Collective barrier;
  std::vector<Collective> warps;
  std::vector<Warpgroup> warpgroups;
  std::map<unsigned, Mbarrier> mbarriers;
  NamedBarrier named[16];
  std::string error;
};


// The launch this OS thread runs (emulator.cpp).
extern thread_local Emulator* emu;

inline Fiber& self() { return *emu->current; }

// Back to the scheduler until this fiber is ready again.
void yield();
// Ends the launch: the first error is kept (with the block and thread);
// the fiber never runs again.
[[noreturn]] void fail(const std::string& what);

// Waits (state waiting, named by `what` in a deadlock report) until another
// fiber makes this one ready.
inline void block_on(const std::string& what) {
  self().state = State::waiting;
  self().waiting_for = what;
  yield();
}
inline void wake(Fiber& f) {
  if (f.state == State::waiting) f.state = State::ready, f.waiting_at = nullptr, f.waiting_for.clear();
}

// Arrives at `c` (participants: threads [first, first + count)); the last to
// arrive runs `complete` with every participant's LaneData in place.
template <class Complete>
void arrive(Collective& c, const char* op, unsigned first, unsigned count, Complete&& complete) {
  if (c.arrived == 0) {
    c.op = op;
  } else if (std::strcmp(c.op, op) != 0) {
    fail(std::string("reached ") + op + " while other threads of its group wait at " + c.op +
         " (divergent collective)");
  }
  if (++c.arrived < int(count)) {
    self().state = State::waiting;
    self().waiting_at = op;
    yield();
    return;
  }
  c.arrived = 0;
  complete();
  for (unsigned t = first; t < first + count; ++t) wake(emu->fibers[t]);
}

inline Collective& warp_of(const Fiber& f) { return emu->warps[f.tid / 32]; }
inline unsigned lane_of(const Fiber& f) { return f.tid % 32; }
inline unsigned warp_first(const Fiber& f) { return f.tid / 32 * 32; }
inline Warpgroup& warpgroup_of(const Fiber& f) {
  if (emu->fibers.size() % 128 != 0) fail("a warpgroup instruction in a block that is not whole warpgroups");
  return emu->warpgroups[f.tid / 128];
}

// An error when [offset, offset + bytes) is not the block's or is misaligned.
void check_shared(unsigned offset, unsigned bytes, unsigned align, const char* op);

// Performs the copies of `f` issued before serial `through` that have not
// landed yet (emulator.cpp): what a wait_group or an mbarrier's phase
// completion does.
void land_copies(Fiber& f, uint64_t through);
// Ends the thread's batch of copies for the bank statistics: at a commit and
// at a cp.async.mbarrier.arrive (a producer need not commit groups).
void close_copy_batch(Fiber& f);

inline uint16_t shared_u16(unsigned offset) {
  uint16_t v;
  std::memcpy(&v, emu->smem + offset, 2);
  return v;
}

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace agemu::block

#endif
