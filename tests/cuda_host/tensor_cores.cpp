// The tensor-core instructions of the block emulator (emulator.hpp):
// ldmatrix, mma.sync and wgmma, each from the PTX ISA's definition of its
// fragments or descriptors.
#include <sstream>

#include "tests/cuda_host/block.hpp"

namespace agemu {
using namespace block;
namespace {

float decode16(uint16_t bits, Mma16 type) {
  if (type == Mma16::f16) return half_to_float(bits);
  const uint32_t u = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float in_flight_value() {
  float f;
  std::memcpy(&f, &kInFlightBits, 4);
  return f;
}

// ---- wgmma's shared-memory operands (PTX ISA, "Matrix Descriptor"): no
// swizzle, core matrices of 8 rows x 16 bytes; the leading byte offset steps
// between core matrices along K, the stride byte offset along M or N. K-major
// (trans 0): a core row is 8 consecutive k of one m/n; MN-major (trans 1): 8
// consecutive m/n of one k.
struct Descriptor {
  unsigned start, lead, stride;
};

Descriptor decode(uint64_t desc, const char* operand) {
  if ((desc >> 62) != 0 || ((desc >> 49) & 7) != 0)
    fail(std::string("wgmma: the descriptor of ") + operand +
         " asks for a swizzle or base offset, which the emulator does not model");
  return {unsigned(desc & 0x3fff) << 4, unsigned((desc >> 16) & 0x3fff) << 4, unsigned((desc >> 32) & 0x3fff) << 4};
}

// Element (mn, k) of an operand with `rows` m/n and 16 k.
std::vector<float> read_operand(uint64_t desc, int trans, int rows, Mma16 type, const char* operand) {
  const Descriptor d = decode(desc, operand);
  std::vector<float> out(size_t(rows) * 16);
  for (int mn = 0; mn < rows; ++mn)
    for (int k = 0; k < 16; ++k) {
      const unsigned within = trans ? (k % 8) * 16 + (mn % 8) * 2 : (mn % 8) * 16 + (k % 8) * 2;
      const unsigned at = d.start + (mn / 8) * d.stride + (k / 8) * d.lead + within;
      check_shared(at, 2, 2, "wgmma operand read");
      out[size_t(mn) * 16 + k] = decode16(shared_u16(at), type);
    }
  return out;
}

// A from 4 registers of each of the warpgroup's threads: per warp, rows
// 16 w + g and + 8 (g = lane / 4), k 2t, 2t + 1 and + 8 (t = lane % 4), as
// mma.sync's A fragment.
std::vector<float> read_a_registers(const std::vector<const uint32_t*>& regs, Mma16 type) {
  std::vector<float> a(64 * 16);
  for (unsigned t = 0; t < 128; ++t) {
    const unsigned w = t / 32, g = t % 32 / 4, q = t % 4;
    for (int r = 0; r < 4; ++r) {
      const unsigned row = 16 * w + g + (r & 1) * 8, k = 2 * q + (r >> 1) * 8;
      a[row * 16 + k] = decode16(uint16_t(regs[t][r] & 0xffff), type);
      a[row * 16 + k + 1] = decode16(uint16_t(regs[t][r] >> 16), type);
    }
  }
  return a;
}

// Accumulator i of thread t: row 16 w + g + 8 (i % 4 / 2), column 8 (i / 4) + 2 q + i % 2.
void accumulator_position(unsigned t, int i, int& row, int& col) {
  const unsigned w = t / 32, g = t % 32 / 4, q = t % 4;
  row = int(16 * w + g + 8 * ((i % 4) / 2));
  col = 8 * (i / 4) + int(2 * q) + i % 2;
}

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

void execute(WgmmaOp& op) {
  const std::vector<float> a = op.a_regs.empty() ? read_operand(op.a_desc, op.trans_a, 64, op.type, "A")
                                                 : read_a_registers(op.a_regs, op.type);
  const std::vector<float> b = read_operand(op.b_desc, op.trans_b, op.n, op.type, "B");
  if (!same_bits(a, op.a))
    fail(op.a_regs.empty() ? "wgmma: shared memory of operand A changed while the wgmma was in flight"
                           : "wgmma: the registers of operand A changed while the wgmma was in flight");
  if (!same_bits(b, op.b)) fail("wgmma: shared memory of operand B changed while the wgmma was in flight");
  for (unsigned t = 0; t < 128; ++t)
    for (int i = 0; i < op.n / 2; ++i) {
      int row, col;
      accumulator_position(t, i, row, col);
      double acc = 0;
      if (op.scale_d) {
        if (op.chained) {
          acc = op.d[t][i];
        } else {
          if (bits_of(op.d[t][i]) != kInFlightBits)
            fail("wgmma: an accumulator was written while the wgmma was in flight");
          acc = op.c[size_t(row) * op.n + col];
        }
      }
      for (int k = 0; k < 16; ++k) acc += double(a[size_t(row) * 16 + k]) * double(b[size_t(col) * 16 + k]);
      op.d[t][i] = float(acc);
    }
}

}  // namespace

// ---- ldmatrix .x4: lanes 8i .. 8i + 7 give the rows of matrix i; lane L
// receives register i = row L / 4, elements 2 (L % 4) and + 1 of matrix i
// (.trans: column L / 4, rows 2 (L % 4) and + 1).
void ldmatrix_x4(uint32_t (&r)[4], unsigned smem_offset, bool trans) {
  Fiber& f = self();
  Collective& c = warp_of(f);
  LaneData& me = c.lanes[lane_of(f)];
  me.addr = smem_offset, me.regs = r;
  const char* op = trans ? "ldmatrix.x4.trans" : "ldmatrix.x4";
  arrive(c, op, warp_first(f), 32, [&c, trans, op] {
    for (unsigned l = 0; l < 32; ++l) check_shared(c.lanes[l].addr, 16, 16, op);
    for (unsigned i = 0; i < 4; ++i) {  // one phase per 8-row matrix
      unsigned rows[8];
      for (unsigned r = 0; r < 8; ++r) rows[r] = c.lanes[8 * i + r].addr;
      count_ldmatrix_phase(extra_wavefronts(rows, 8));
    }
    for (unsigned l = 0; l < 32; ++l)
      for (unsigned i = 0; i < 4; ++i) {
        uint16_t e[2];
        for (unsigned x = 0; x < 2; ++x) {
          const unsigned row = trans ? 2 * (l % 4) + x : l / 4, col = trans ? l / 4 : 2 * (l % 4) + x;
          e[x] = shared_u16(c.lanes[8 * i + row].addr + 2 * col);
        }
        c.lanes[l].regs[i] = uint32_t(e[0]) | uint32_t(e[1]) << 16;
      }
  });
}

// ---- mma.sync m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16"),
// g = lane / 4, t = lane % 4: A registers 0-3 hold (row g, k 2t..), (g + 8,
// 2t..), (g, 2t + 8..), (g + 8, 2t + 8..); B registers 0-1 hold (k 2t.., n g),
// (k 2t + 8.., n g); C and D hold (g, n 2t..), (g + 8, n 2t..), two each.
void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4], Mma16 type) {
  Fiber& f = self();
  Collective& coll = warp_of(f);
  LaneData& me = coll.lanes[lane_of(f)];
  me.a = a, me.b = b, me.c = c, me.d = d;
  arrive(coll, type == Mma16::bf16 ? "mma.m16n8k16.bf16" : "mma.m16n8k16.f16", warp_first(f), 32, [&coll, type] {
    count_mma_sync();
    float A[16][16], B[16][8], C[16][8];
    for (unsigned l = 0; l < 32; ++l) {
      const LaneData& x = coll.lanes[l];
      const unsigned g = l / 4, t = l % 4;
      for (unsigned r = 0; r < 4; ++r)
        for (unsigned h = 0; h < 2; ++h)
          A[g + (r & 1) * 8][2 * t + (r >> 1) * 8 + h] = decode16(uint16_t(x.a[r] >> (16 * h)), type);
      for (unsigned r = 0; r < 2; ++r)
        for (unsigned h = 0; h < 2; ++h) B[2 * t + r * 8 + h][g] = decode16(uint16_t(x.b[r] >> (16 * h)), type);
      for (unsigned r = 0; r < 4; ++r) C[g + (r >> 1) * 8][2 * t + (r & 1)] = x.c[r];
    }
    for (unsigned l = 0; l < 32; ++l) {
      const unsigned g = l / 4, t = l % 4;
      for (unsigned r = 0; r < 4; ++r) {
        const unsigned row = g + (r >> 1) * 8, col = 2 * t + (r & 1);
        double acc = C[row][col];
        for (unsigned k = 0; k < 16; ++k) acc += double(A[row][k]) * double(B[k][col]);
        coll.lanes[l].d[r] = float(acc);
      }
    }
  });
}

// ---- wgmma: each op is done when a wait_group leaves fewer groups in flight
void wgmma_fence() {
  Fiber& f = self();
  Warpgroup& wg = warpgroup_of(f);
  arrive(wg.sync, "wgmma.fence", f.tid / 128 * 128, 128, [&wg] { wg.fenced = true; });
}

void wgmma_commit() {
  Fiber& f = self();
  Warpgroup& wg = warpgroup_of(f);
  arrive(wg.sync, "wgmma.commit_group", f.tid / 128 * 128, 128, [&wg] {
    wg.groups.push_back(std::move(wg.open));
    wg.open.clear();
  });
}

void wgmma_wait(int pending) {
  Fiber& f = self();
  Warpgroup& wg = warpgroup_of(f);
  arrive(wg.sync, "wgmma.wait_group", f.tid / 128 * 128, 128, [&wg, pending] {
    wg.fenced = false;
    while (wg.groups.size() > size_t(pending)) {
      for (WgmmaOp& op : wg.groups.front()) execute(op);
      wg.groups.pop_front();
    }
  });
}

void wgmma_m64nNk16(float* d, int n, uint64_t a_desc, const uint32_t* a_regs, uint64_t b_desc, bool scale_d,
                    int trans_a, int trans_b, Mma16 type) {
  Fiber& f = self();
  Warpgroup& wg = warpgroup_of(f);
  LaneData& me = wg.sync.lanes[f.tid % 128];
  me.d = d, me.n = n, me.a_desc = a_desc, me.a = a_regs, me.b_desc = b_desc, me.scale_d = scale_d;
  me.trans_a = trans_a, me.trans_b = trans_b, me.type = type;
  arrive(wg.sync, "wgmma.mma_async", f.tid / 128 * 128, 128, [&wg] {
    // The ISA asks for a fence before the first wgmma and between any access
    // to its registers and the wgmma; after a wait the kernel reads them, so
    // this asks for one after every wait (stricter than the ISA).
    if (!wg.fenced)
      fail("wgmma.mma_async without a wgmma.fence since the block began or the last wgmma.wait_group");
    const LaneData& t0 = wg.sync.lanes[0];
    for (const LaneData& x : wg.sync.lanes)
      if (x.n != t0.n || x.a_desc != t0.a_desc || x.b_desc != t0.b_desc || x.scale_d != t0.scale_d ||
          x.trans_a != t0.trans_a || x.trans_b != t0.trans_b || x.type != t0.type || (x.a == nullptr) != (t0.a == nullptr))
        fail("wgmma.mma_async: the threads of a warpgroup disagree on its operands");
    WgmmaOp op;
    op.n = t0.n, op.a_desc = t0.a_desc, op.b_desc = t0.b_desc, op.scale_d = t0.scale_d;
    op.trans_a = t0.trans_a, op.trans_b = t0.trans_b, op.type = t0.type;
    for (const LaneData& x : wg.sync.lanes) {
      op.d.push_back(x.d);
      if (x.a) op.a_regs.push_back(x.a);
    }
    op.a = op.a_regs.empty() ? read_operand(op.a_desc, op.trans_a, 64, op.type, "A") : read_a_registers(op.a_regs, op.type);
    op.b = read_operand(op.b_desc, op.trans_b, op.n, op.type, "B");
    // An op whose D is another's in flight accumulates onto that one's result.
    const auto in_flight = [&](const std::vector<WgmmaOp>& ops) {
      for (const WgmmaOp& o : ops)
        if (o.d[0] == op.d[0]) return true;
      return false;
    };
    op.chained = in_flight(wg.open);
    for (const auto& g : wg.groups) op.chained = op.chained || in_flight(g);
    if (!op.chained) {
      if (op.scale_d) {
        op.c.assign(size_t(64) * op.n, 0.f);
        for (unsigned t = 0; t < 128; ++t)
          for (int i = 0; i < op.n / 2; ++i) {
            int row, col;
            accumulator_position(t, i, row, col);
            op.c[size_t(row) * op.n + col] = op.d[t][i];
          }
      }
      for (unsigned t = 0; t < 128; ++t)
        for (int i = 0; i < op.n / 2; ++i) op.d[t][i] = in_flight_value();
    }
    wg.open.push_back(std::move(op));
  });
}

}  // namespace agemu
