// The block emulator's state and its collectives, shared by emulator.cpp
// (fibers, the launch, built-ins, cp.async) and tensor_cores.cpp (ldmatrix,
// mma.sync, wgmma). Internal to libattngen_cuda_emulator.so.
#ifndef ATTNGEN_TESTS_CUDA_HOST_BLOCK_HPP
#define ATTNGEN_TESTS_CUDA_HOST_BLOCK_HPP

#include <cstring>
#include <deque>
#include <map>
#include <string>
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
};

struct Fiber {
  void* sp = nullptr;
  unsigned tid = 0;
  State state = State::ready;
  const char* waiting_at = nullptr;
  std::vector<Copy> open_copies;                 // not yet committed
  unsigned groups_committed = 0;
  std::deque<std::vector<Copy>> copy_groups;     // committed, not yet waited for
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

// The cp.async destinations of a warp's lanes in one commit group, kept
// until every lane has committed it (bank statistics: the k-th copies of
// the lanes are taken as one instruction).
struct CopyGroup {
  std::vector<unsigned> dst[32];
  int committed = 0;
};

struct Collective {
  int arrived = 0;
  const char* op = nullptr;
  std::vector<LaneData> lanes;
  std::map<unsigned, CopyGroup> copy_groups;  // a warp's, by group number
};

// Extra wavefronts of one phase: 16-byte pieces at `offsets` (shared-memory
// bytes) on 8 bank groups of 16 bytes; identical addresses are one access.
unsigned extra_wavefronts(const unsigned* offsets, int n);
// Adds to the statistics of take_bank_stats().
void count_ldmatrix_phase(unsigned extra);
void count_cp_async_phase(unsigned extra);

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
  for (unsigned t = first; t < first + count; ++t) {
    Fiber& f = emu->fibers[t];
    if (f.state == State::waiting) f.state = State::ready, f.waiting_at = nullptr;
  }
}

inline Collective& warp_of(const Fiber& f) { return emu->warps[f.tid / 32]; }
inline unsigned lane_of(const Fiber& f) { return f.tid % 32; }
inline unsigned warp_first(const Fiber& f) { return f.tid / 32 * 32; }

// An error when [offset, offset + bytes) is not the block's or is misaligned.
void check_shared(unsigned offset, unsigned bytes, unsigned align, const char* op);

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
