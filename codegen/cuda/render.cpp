// Renders the CUDA kernel for one spec: the params header, a prelude of
// compile-time constants (dtype, head dims, tile shape, which masks and score
// mods exist) and the device functions that carry the spec's index masks and
// softcap, then templates/cuda/ptx.cuh (every inline PTX; for a wgmma
// schedule, the rendered MMAs after it), attention_common.cuh, one kernel body
// (attention_fwd_simt.cu for f32; fragments.cuh, then mma_tiles.cuh and
// attention_fwd_mma.cu or attention_fwd_decode.cu, or attention_fwd_wgmma.cu)
// and the
// entry points (attention_entries.cu). Also the launch's grid and key splits,
// which the kernels read back from their grid.
#include "codegen/cuda/render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "attngen_cuda_templates.hpp"
#include "codegen/source/spec_source.hpp"
#include "codegen/spec/semantics.hpp"
#include "runtime/core/error.hpp"

namespace attngen::cuda {

using source::double_literal;
using source::float_literal;

std::string Arch::name() const { return "sm_" + std::to_string(sm) + (accel ? "a" : ""); }

Arch parse_arch(const std::string& text) {
  std::string t = text.rfind("sm_", 0) == 0 ? text.substr(3) : text;
  Arch a;
  if (!t.empty() && t.back() == 'a') {
    a.accel = true;
    t.pop_back();
  }
  const bool digits = t.size() >= 2 && t.size() <= 3 && t.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoi(t) < 80)
    throw Error("--arch: expected an NVIDIA architecture sm_80 or newer (sm_80, sm_86, sm_89, sm_90a, ...), got '" +
                text + "'");
  a.sm = std::stoi(t);
  return a;
}

namespace {

constexpr int kMaxHeadDim = 256;
constexpr int kMaxSmemSm90 = 227 * 1024;  // dynamic shared memory of one block (and an SM's) on sm_90
constexpr int kStageBarrierBytes = 128;     // the warp-specialised kernel's mbarriers (AgStageBarriers)

int round_up(int x, int m) { return (x + m - 1) / m * m; }

// The dynamic shared memory one block may have (the CUDA programming guide's
// table): 227 KiB on sm_90 and sm_100, 163 KiB on sm_80 and sm_87, 99 KiB on
// the others (sm_86, sm_89, sm_120). The default tiles fit 99 KiB at any head dim.
int max_block_smem(const Arch& arch) {
  if (arch.sm == 90 || arch.sm == 100 || arch.sm == 103) return kMaxSmemSm90;
  if (arch.sm == 80 || arch.sm == 87) return 163 * 1024;
  return 99 * 1024;
}

struct TileOverride {
  int m = 0, n = 0;    // 0: the per-spec choice
  int warps = 0;       // 0: one warp per 16 rows
  bool wgmma = false;  // warpgroups of 64 rows with wgmma (sm_90a)
  bool pipelined = false;  // wgmma: the products of two blocks in flight during the softmax
  bool specialized = false;  // wgmma, pipelined, in consumer warpgroups fed by a producer warpgroup
  bool pingpong = false;     // specialized: the consumers take turns to issue their products
  int key_warps = 1;         // mma.sync: > 1, the warps split the keys of a tile they all own (decoding)
};

const char* const kTileExpected =
    ": expected 64x32, 64x64, 128x32 or 128x64 (query rows x keys per block), optionally with wW "
    "for W warps of 16 or 32 rows each (128x64w4), or MxNwg for sm_90a's warpgroup MMA (M 64, 128 or 192, N 64 or "
    "128: 128x128wg; MxNwgp pipelined; 128xNws warp-specialised; 128xNwsp ping-pong), or MxNkW for decoding, W "
    "warps splitting the keys of M rows they all own (M 16 or 32, N 32 or 64, W 2, 4 or 8: 16x32k4), got '";

// The suffix of a warpgroup-MMA schedule's ATTNGEN_CUDA_TILE value.
const char* wgmma_suffix(bool pipelined, bool specialized, bool pingpong) {
  return pingpong ? "wsp" : specialized ? "ws" : pipelined ? "wgp" : "wg";
}

// "MxN" or "MxNwW": M 64 or 128 query rows, N 32 or 64 keys, W warps owning
// 16 or 32 rows each (W = M / 16 or M / 32). "MxNwg": warpgroups of 64 rows
// with wgmma; "MxNwgp": the same, pipelined; "128xNws": pipelined in two
// consumer warpgroups, a producer warpgroup copying Q, K and V; "128xNwsp":
// the same, the consumers taking turns to issue their products (ping-pong).
// "MxNkW": M 16 or 32 rows that each of W warps owns, the warps splitting the
// keys (a block of N keys each a step; attention_fwd_decode.cu).
TileOverride tile_override(const Schedule& schedule) {
  TileOverride t;
  const std::string& v = schedule.tile;
  if (v.empty()) return t;
  const std::string shape = v.substr(0, v.find_first_of("wk"));
  const std::string suffix = v.size() > shape.size() ? v.substr(shape.size() + 1) : "";
  const size_t x = shape.find('x');
  const bool digits = x != std::string::npos && x > 0 && x + 1 < shape.size() && x <= 3 && shape.size() - x <= 4 &&
                      shape.find_first_not_of("0123456789x") == std::string::npos &&
                      shape.find('x', x + 1) == std::string::npos;
  if (digits) {
    t.m = std::stoi(shape.substr(0, x));
    t.n = std::stoi(shape.substr(x + 1));
    if (shape != std::to_string(t.m) + "x" + std::to_string(t.n)) t.m = 0;  // leading zeros
    if (v.size() > shape.size() && v[shape.size()] == 'k') {
      const std::string w = v.substr(shape.size() + 1);
      if ((t.m == 16 || t.m == 32) && (t.n == 32 || t.n == 64) && (w == "2" || w == "4" || w == "8")) {
        t.warps = t.key_warps = std::stoi(w);
        return t;
      }
      t.m = 0;
    }
    if ((suffix == "g" || suffix == "gp") && (t.m == 64 || t.m == 128 || t.m == 192) && (t.n == 64 || t.n == 128)) {
      t.wgmma = true;
      t.pipelined = suffix == "gp";
      t.warps = t.m / 16;
      return t;
    }
    if ((suffix == "s" || suffix == "sp") && t.m == 128 && (t.n == 64 || t.n == 128)) {
      t.wgmma = t.pipelined = t.specialized = true;
      t.pingpong = suffix == "sp";
      t.warps = t.m / 16 + 4;
      return t;
    }
    const bool mma_shape = (t.m == 64 || t.m == 128) && (t.n == 32 || t.n == 64);
    t.warps = t.m / 16;
    const std::string w = v.size() > shape.size() ? suffix : std::to_string(t.warps);
    if (mma_shape && (w == std::to_string(t.m / 16) || w == std::to_string(t.m / 32))) {
      t.warps = std::stoi(w);
      return t;
    }
  }
  std::string shown = v.substr(0, 40);
  for (char& c : shown)
    if (c < 0x20 || c > 0x7e) c = '?';
  throw Error(schedule.source + kTileExpected + shown + "'");
}

struct Tiles {
  int d_pad, dv_pad, warps, threads, block_m, block_n;
  int warp_m_tiles;  // 16-row MMA blocks per warp (16-bit dtypes)
  int key_warps;     // mma.sync: warps splitting each step's keys (1: the warps split the rows)
  bool q_in_registers;
  bool wgmma;        // sm_90a warpgroup MMA: 4 warps (64 rows) per warpgroup
  bool pipelined;    // wgmma: K and V double-buffered, two blocks' products in flight
  bool specialized;  // wgmma: warpgroup 0 copies, the others compute (pipelined)
  bool pingpong;     // specialized: the two consumer warpgroups take turns on the tensor cores
  int producer_regs, consumer_regs;  // specialized: registers a thread after setmaxnreg
  int smem_bytes;
  int min_blocks;    // f32: blocks per SM asked of ptxas (__launch_bounds__)
};

// Tile shape per dtype. 16-bit: 16 rows per warp (one m16n8k16 row block;
// ATTNGEN_CUDA_TILE can give a warp 32, so that each K and V fragment feeds
// two MMAs),
// 8 warps and 64-key blocks while a row's fragments of Q, S and O fit the
// registers without spilling (D, Dv <= 128), else 4 warps, 32-key blocks and Q
// re-read from shared memory. f32: 32 x 32 tiles of scalar FMAs, 4 threads a
// row; 32 x 16 where 32 keys would not fit the arch's shared memory (head dims
// near 256 on GPUs whose blocks have 99 KiB).
Tiles tiles_for(const Spec& s, const Arch& arch, const Schedule& schedule) {
  Tiles t{};
  if (s.dtype == ElemType::f32) {
    t.d_pad = round_up(s.head_dim, 4);
    t.dv_pad = round_up(s.head_dim_v, 4);
    t.block_m = 32;
    t.threads = 4 * t.block_m;
    t.warps = t.threads / 32;
    t.warp_m_tiles = 1;
    t.key_warps = 1;
    t.q_in_registers = false;
    t.wgmma = t.pipelined = t.specialized = t.pingpong = false;
    for (const int n : {32, 16}) {
      t.block_n = n;
      t.smem_bytes = 4 * (t.block_m * (t.d_pad + 1) + t.block_n * (t.d_pad + 1) + t.block_n * (t.dv_pad + 1) +
                          t.block_m * (t.block_n + 1));
      if (t.smem_bytes <= max_block_smem(arch)) break;
    }
    // As many blocks as shared memory lets an SM hold, at most 4 (16 warps,
    // up to 128 registers a thread): left to itself, ptxas squeezed some
    // specs into 64 registers with a few bytes of spill.
    t.min_blocks = std::max(1, std::min(4, max_block_smem(arch) / t.smem_bytes));
    return t;
  }
  t.d_pad = round_up(s.head_dim, 16);
  t.dv_pad = round_up(s.head_dim_v, 16);
  t.min_blocks = 1;
  const bool small = t.d_pad <= 128 && t.dv_pad <= 128;
  t.warps = small ? 8 : 4;
  t.threads = 32 * t.warps;
  t.block_m = 16 * t.warps;
  t.block_n = small ? 64 : 32;
  t.key_warps = 1;
  if (const TileOverride o = tile_override(schedule); o.m) {
    t.block_m = o.m;
    t.block_n = o.n;
    t.warps = o.warps;
    t.threads = 32 * t.warps;
    t.wgmma = o.wgmma;
    t.pipelined = o.pipelined;
    t.specialized = o.specialized;
    t.pingpong = o.pingpong;
    t.key_warps = o.key_warps;
  }
  t.warp_m_tiles = t.specialized ? 1 : t.key_warps > 1 ? t.block_m / 16 : t.block_m / (16 * t.warps);
  t.q_in_registers = !t.wgmma && t.warp_m_tiles * t.d_pad <= 128;
  // mma.sync: rows padded by 16 bytes for ldmatrix; wgmma: core matrices, no
  // padding, K and V twice when pipelined; key-split warps: a key block each.
  const int pad = t.wgmma ? 0 : 8, kv_buffers = t.pipelined ? 2 : 1;
  const int q_bytes = 2 * t.block_m * (t.d_pad + pad);
  t.smem_bytes = q_bytes + 2 * kv_buffers * t.key_warps * t.block_n * (t.d_pad + pad + t.dv_pad + pad);
  // Key-split warps merge their states through the K and V tiles' memory:
  // each warp's row maxima, sums and O rows (f32, rows Dv + 8 apart).
  if (t.key_warps > 1)
    t.smem_bytes = std::max(t.smem_bytes, q_bytes + 4 * t.key_warps * t.block_m * (2 + t.dv_pad + 8));
  if (t.specialized) {
    t.smem_bytes += kStageBarrierBytes;
    // setmaxnreg moves registers from the producer warpgroup to the two
    // consumers: 128 x 24 + 256 x 240 = 384 x 168, what the launch gives
    // (65536 / 384, rounded down to 8), as FlashAttention-3 splits it. ptxas
    // allocates each side within its own count; the producer's copy loops
    // are written for it (attention_fwd_wgmma_ws.cu). NVRTC 13.0, sm_90a,
    // bf16 D 128: the consumers spilled at 216 for a sliding window, none at
    // 232 (2026-11-28).
    t.producer_regs = 24;
    t.consumer_regs = 240;
  }
  return t;
}

std::string render_softcap(const Spec& s) {
  std::ostringstream o;
  o << "__device__ __forceinline__ float ag_softcap(float s) {\n";
  if (const SoftcapMod* m = s.find_mod<SoftcapMod>()) {
    // tanhf is accurate for small arguments too (no cancellation), so the
    // error does not grow with the cap. Caps near or past the f32 range go
    // through double: cap and 1/cap must both be normal numbers.
    if (m->cap <= 1e30 && m->cap >= 1e-30)
      o << "  return " << float_literal(float(m->cap)) << " * tanhf(s * " << float_literal(float(1.0 / m->cap))
        << ");\n";
    else
      o << "  return float(" << double_literal(m->cap) << " * tanh(double(s) / " << double_literal(m->cap) << "));\n";
  } else {
    o << "  return s;\n";
  }
  o << "}\n";
  return o.str();
}

// The two warpgroup MMAs of attention_fwd_wgmma.cu for this spec's shapes (an
// instruction's accumulators are its operands, so each N is its own asm):
// ag_wgmma_qk, S (m64 x n_s) = or += Q K^T over one k16 step, A and B both
// K-major in shared memory; ag_wgmma_pv, O (m64 x n_o) += P V, P from
// registers, V N-major in shared memory.
std::string render_wgmma(const Spec& s, int n_s, int n_o) {
  const std::string ty = s.dtype == ElemType::bf16 ? "bf16" : "f16";
  const auto accumulators = [](int n) {
    std::ostringstream o;
    o << "{";
    for (int i = 0; i < n / 2; ++i) o << (i ? ", " : "") << "%" << i;
    return o.str() + "}";
  };
  const auto operands = [](int n) {
    std::ostringstream o;
    for (int i = 0; i < n / 2; ++i) o << (i ? ", " : "") << "\"+f\"(d[" << i / 4 << "][" << i % 4 << "])";
    return o.str();
  };
  const std::string instr = ".f32." + ty + "." + ty + " ";
  std::ostringstream o;
  o << "__device__ __forceinline__ void ag_wgmma_qk(float (&d)[" << n_s / 8
    << "][4], unsigned long long a, unsigned long long b, int accumulate) {\n"
    << "  asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %" << n_s / 2 + 2 << ", 0;\\n\"\n"
    << "               \"wgmma.mma_async.sync.aligned.m64n" << n_s << "k16" << instr << accumulators(n_s) << ", %"
    << n_s / 2 << ", %" << n_s / 2 + 1 << ", p, 1, 1, 0, 0;\\n}\\n\"\n"
    << "               : " << operands(n_s) << "\n"
    << "               : \"l\"(a), \"l\"(b), \"r\"(accumulate));\n}\n";
  const int a0 = n_o / 2;
  o << "__device__ __forceinline__ void ag_wgmma_pv(float (&d)[" << n_o / 8
    << "][4], const unsigned (&a)[4], unsigned long long b) {\n"
    << "  asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %" << a0 + 5 << ", 0;\\n\"\n"
    << "               \"wgmma.mma_async.sync.aligned.m64n" << n_o << "k16" << instr << accumulators(n_o) << ", {%" << a0
    << ", %" << a0 + 1 << ", %" << a0 + 2 << ", %" << a0 + 3 << "}, %" << a0 + 4 << ", p, 1, 1, 1;\\n}\\n\"\n"
    << "               : " << operands(n_o) << "\n"
    << "               : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"l\"(b), \"r\"(1));\n}\n";
  return o.str();
}

// A kernel name that spells the choices and ends with a hash of the spec.
std::string entry_name(const Spec& s) {
  std::string n = std::string("attngen_fwd_") + elem_name(s.dtype) + "_d" + std::to_string(s.head_dim) + "_dv" +
                  std::to_string(s.head_dim_v) + "_g" + std::to_string(s.group_size());
  return n + "_" + stable_hash_hex(canonical_json(s)).substr(0, 8);
}

}  // namespace

LaunchGrid launch_grid(const Spec& s, const LaunchShape& launch, int64_t batch, int64_t sq) {
  const int64_t m = launch.block_m, g = s.group_size();
  LaunchGrid grid{(sq + m - 1) / m, s.num_heads, batch, false};
  // Packed: the same rows in fewer blocks when Sq leaves a head's tiles part
  // empty (Sq = 1: one row of block_m), and K/V read once per group.
  const int64_t packed_x = (sq * g + m - 1) / m;
  if (g > 1 && packed_x * (s.num_heads / g) < grid.x * grid.y) grid = {packed_x, s.num_heads / g, batch, true};
  return grid;
}

int kv_splits(const Spec& spec, const LaunchShape& launch, const LaunchGrid& grid, int64_t sq, int64_t skv,
              int sm_count) {
  const int64_t blocks = grid.x * grid.y * grid.z, capacity = int64_t(sm_count) * std::max(1, launch.sm_blocks);
  if (sm_count <= 0 || blocks <= 0 || blocks >= capacity || launch.block_n <= 0) return 1;
  int64_t key_blocks = (skv + launch.block_n - 1) / launch.block_n;
  if (const std::optional<int64_t> width = allowed_width_bound(spec)) {
    // A tile's rows hold at most `queries` consecutive queries, whose key
    // intervals slide by one key a query; the span may straddle a block more.
    const int64_t rows = grid.gqa_packed ? (launch.block_m + spec.group_size() - 1) / spec.group_size() : launch.block_m;
    const int64_t queries = std::min(sq, rows);
    const int64_t span = std::min(skv, *width + std::max<int64_t>(queries, 1) - 1);
    key_blocks = std::min(key_blocks, (span + launch.block_n - 1) / launch.block_n + 1);
  }
  const int64_t steps = key_blocks / std::max(1, launch.key_warps);
  const int64_t splits = std::min({capacity / blocks, steps / kMinKeyBlocksPerSplit, int64_t(kMaxKvSplits),
                                   int64_t(65535) / grid.z});
  return splits >= 2 ? int(splits) : 1;
}

int64_t split_workspace_bytes(const Spec& s, int splits, int64_t batch, int64_t sq) {
  return int64_t(sizeof(float)) * splits * batch * s.num_heads * sq * (s.head_dim_v + 1);
}

constexpr const char* kScheduleTagPrefix = "/tile-";

Schedule Schedule::of_target(const std::string& target, std::string source) {
  const size_t at = target.find(kScheduleTagPrefix);
  return Schedule{at == std::string::npos ? "" : target.substr(at + std::strlen(kScheduleTagPrefix)),
                  std::move(source)};
}

Schedule Schedule::from_env() {
  const char* tile = std::getenv("ATTNGEN_CUDA_TILE");
  return Schedule{tile ? tile : ""};
}

std::string schedule_tag(const Schedule& schedule) {
  const TileOverride o = tile_override(schedule);
  if (!o.m) return "";
  std::string tag = kScheduleTagPrefix + std::to_string(o.m) + "x" + std::to_string(o.n);
  if (o.wgmma) return tag + wgmma_suffix(o.pipelined, o.specialized, o.pingpong);
  if (o.key_warps > 1) return tag + "k" + std::to_string(o.key_warps);
  return o.warps == o.m / 16 ? tag : tag + "w" + std::to_string(o.warps);
}

std::string unsupported_reason(const Spec& s) {
  if (s.head_dim > kMaxHeadDim || s.head_dim_v > kMaxHeadDim)
    return "the CUDA template keeps a row's fragments on chip: head_dim and head_dim_v up to " +
           std::to_string(kMaxHeadDim) + ", got " + std::to_string(s.head_dim) + " and " +
           std::to_string(s.head_dim_v);
  if (s.num_heads > 65535)
    return "num_heads is a grid dimension on CUDA: at most 65535, got " + std::to_string(s.num_heads);
  return "";
}

RenderedKernel render_attention(const Spec& s, const Arch& arch, const Schedule& schedule) {
  if (std::string why = unsupported_reason(s); !why.empty()) throw Error("cuda: " + why);
  Tiles t = tiles_for(s, arch, schedule);
  // Key-split warps: small blocks, two on an SM where its shared memory holds
  // them (ptxas then keeps a thread of 4 warps under 256 registers). Three
  // would leave it 168: bf16 D 128 at 16x32k4 then spilled 88 B (NVRTC 13.0,
  // sm_90a, 2026-11-29).
  if (t.key_warps > 1) t.min_blocks = std::max(1, std::min(2, max_block_smem(arch) / t.smem_bytes));
  const CustomMask* custom = s.find_mask<CustomMask>();

  RenderedKernel r;
  r.entry = entry_name(s);
  r.split_entry = split_entry_of(r.entry);
  r.merge_entry = merge_entry_of(r.entry);
  // Split-KV counts on the blocks an SM holds: the __launch_bounds__ the
  // kernel is compiled for (f32: up to 4 by shared memory; key-split warps:
  // 2; the other 16-bit tiles hold one).
  r.launch = {t.threads, t.block_m, t.block_n, t.smem_bytes, t.key_warps, t.min_blocks};
  r.options = {"--std=c++17"};
  // The schedule as its one spelling (schedule_tag), for messages.
  const std::string tag = schedule_tag(schedule);
  const std::string named = schedule.source + "=" + Schedule::of_target(tag, "").tile;
  if (t.wgmma && !(arch.sm == 90 && arch.accel))  // only a schedule selects wgmma
    throw Error(named + ": warpgroup MMA (wgmma) needs --arch sm_90a, got " + arch.name());
  if (t.smem_bytes > max_block_smem(arch))
    throw Error((tag.empty() ? std::string("cuda: the ") + elem_name(s.dtype) + " tile" : named) +
                ": needs " + std::to_string(t.smem_bytes) +
                " B of shared memory for head dims " + std::to_string(s.head_dim) + "/" +
                std::to_string(s.head_dim_v) + ", more than the " + std::to_string(max_block_smem(arch)) +
                " B a block can have on " + arch.name());
  const std::string mma = t.wgmma ? std::string(t.pingpong      ? " ping-pong warp-specialised"
                                                : t.specialized ? " warp-specialised"
                                                : t.pipelined ? " pipelined"
                                                              : "") +
                                        " wgmma m64n" +
                                        std::to_string(t.block_n) + "k16"
                                  : " mma.sync m16n8k16";
  std::ostringstream d;
  d << (s.dtype == ElemType::f32 ? "f32 CUDA-core FMA" : std::string(elem_name(s.dtype)) + mma) << ", " << t.block_m
    << "x" << t.block_n << " tiles, "
    << (t.specialized ? "1 producer + " + std::to_string(t.warps / 4 - 1) + " consumer warpgroups"
        : t.wgmma     ? std::to_string(t.warps / 4) + " warpgroups"
                      : std::to_string(t.warps) + " warps")
    << (t.key_warps > 1 ? " splitting the keys (" + std::to_string(t.key_warps * t.block_n) + " a step)"
        : t.warp_m_tiles > 1 ? " of " + std::to_string(16 * t.warp_m_tiles) + " rows"
                             : "")
    << ", D " << t.d_pad << "/Dv "
    << t.dv_pad << " padded" << (t.q_in_registers ? ", Q in registers" : "") << ", " << t.smem_bytes
    << " B shared, " << arch.name();
  r.description = d.str();

  std::ostringstream o;
  o << "// attngen CUDA kernel " << r.entry << " for " << arch.name() << "\n"
    << "// spec: " << canonical_json(s) << "\n"
    << "// " << r.description << "\n\n"
    << kAttentionParamsH << "\n"
    << "// ---- rendered from the spec\n"
    << source::render_spec_constants(s)
    << "#define AG_ENTRY " << r.entry << "\n"
    << "#define AG_SPLIT_ENTRY " << r.split_entry << "\n"
    << "#define AG_MERGE_ENTRY " << r.merge_entry << "\n"
    << "#define AG_MERGE_THREADS " << kMergeThreads << "\n"
    << "#define AG_D_PAD " << t.d_pad << "\n"
    << "#define AG_DV_PAD " << t.dv_pad << "\n"
    << "#define AG_THREADS " << t.threads << "\n"
    << "#define AG_BLOCK_M " << t.block_m << "\n"
    << "#define AG_BLOCK_N " << t.block_n << "\n"
    << "#define AG_WARP_M_TILES " << t.warp_m_tiles << "\n"
    << "#define AG_KEY_WARPS " << t.key_warps << "\n"
    << "#define AG_Q_IN_REGISTERS " << int(t.q_in_registers) << "\n"
    << "#define AG_WGMMA_PIPELINED " << int(t.pipelined) << "\n"
    << "#define AG_MIN_BLOCKS " << t.min_blocks << "\n"
    << "#define AG_SCALE_LOG2 " << float_literal(float(s.scale * 1.4426950408889634)) << "\n"
    << "#define AG_PLAIN_SCORE " << int(!s.find_mod<SoftcapMod>() && !s.find_mod<AlibiMod>() &&
                                        !(custom && custom->format == CustomFormat::additive))
    << "  // no score mod: the score is one multiply\n\n"
    << "#define AG_WGMMA " << int(t.wgmma) << "\n"
    << "#define AG_WGMMA_SPECIALIZED " << int(t.specialized) << "\n";
  if (t.specialized)
    o << "#define AG_WGMMA_PINGPONG " << int(t.pingpong) << "\n"
      << "#define AG_PRODUCER_REGS " << t.producer_regs << "\n"
      << "#define AG_CONSUMER_REGS " << t.consumer_regs << "\n"
      << "#define AG_STAGE_BARRIER_BYTES " << kStageBarrierBytes << "  // reserved after the tiles\n";
  o
    << source::render_row_masks(s, "__device__ __forceinline__") << render_softcap(s) << "\n"
    << "// ---- templates/cuda/ptx.cuh\n"
    << kPtxCuh;
  if (t.wgmma) o << "// ---- rendered: the warpgroup MMAs for these shapes\n" << render_wgmma(s, t.block_n, t.dv_pad);
  o << "// ---- templates/cuda/attention_common.cuh\n" << kAttentionCommonCuh;
  if (s.dtype == ElemType::f32) {
    o << "// ---- templates/cuda/attention_fwd_simt.cu\n" << kAttentionFwdSimtCu;
  } else {
    o << "// ---- templates/cuda/fragments.cuh\n" << kFragmentsCuh;
    if (t.wgmma)
      o << "// ---- templates/cuda/attention_fwd_wgmma.cu\n" << kAttentionFwdWgmmaCu;
    if (t.specialized)
      o << "// ---- templates/cuda/attention_fwd_wgmma_ws.cu\n" << kAttentionFwdWgmmaWsCu;
    if (!t.wgmma) o << "// ---- templates/cuda/mma_tiles.cuh\n" << kMmaTilesCuh;
    if (!t.wgmma && t.key_warps > 1)
      o << "// ---- templates/cuda/attention_fwd_decode.cu\n" << kAttentionFwdDecodeCu;
    else if (!t.wgmma)
      o << "// ---- templates/cuda/attention_fwd_mma.cu\n" << kAttentionFwdMmaCu;
  }
  o << "// ---- templates/cuda/attention_entries.cu\n" << kAttentionEntriesCu;
  r.source = o.str();
  return r;
}

RenderedModule render_merge_states(const Arch& arch) {
  std::ostringstream o;
  o << "// attngen CUDA module " << kMergeStatesEntry << " for " << arch.name() << "\n\n"
    << kMergeParamsH << "\n"
    << "// ---- rendered\n"
    << "#define AG_MERGE_STATES_ENTRY " << kMergeStatesEntry << "\n"
    << "#define AG_MERGE_STATES_THREADS " << kMergeStatesThreads << "\n"
    << "// ptx.cuh's MMA helpers (unused here) are written for a dtype and a schedule\n"
    << "#define AG_DTYPE_F32 0\n#define AG_DTYPE_F16 1\n#define AG_DTYPE_BF16 2\n#define AG_DTYPE AG_DTYPE_F32\n"
    << "#define AG_WGMMA 0\n\n"
    << "// ---- templates/cuda/ptx.cuh\n"
    << kPtxCuh << "// ---- templates/cuda/merge_states.cu\n"
    << kMergeStatesCu;
  return RenderedModule{o.str(), kMergeStatesEntry, {"--std=c++17"}};
}

}  // namespace attngen::cuda
