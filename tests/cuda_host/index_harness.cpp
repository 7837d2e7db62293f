// The index logic of a rendered CUDA kernel, run on the host
// (test_cuda_index_logic.cpp compiles this file with the kernel's source):
// for every block of one launch, which (batch entry, query head, query) each
// row of its tile is, where its Q row is loaded from, where its O row and LSE
// are stored, which ALiBi slope and custom-mask row it reads, and which key
// blocks it visits. Checks that every (b, h, i) is one block's row exactly
// once, that each address is that element's, that every allowed key of a
// valid row lies in the visited blocks, that "full" blocks are allowed for
// every valid row, and that rows past Sq read no mask row. With split-KV
// (grid z = B x splits): that the splits' key blocks partition each tile's,
// that each split's partial results of a row have their own place, and (f32)
// that the merge kernel, run here, combines partials as it should, empty and
// NaN rows included. Nothing here runs the MMAs or the softmax (their inline
// PTX is replaced by a trap): those are verified on a GPU
// (scripts/gpu-check.sh).
//
//   index_harness B Sq Skv grid_x grid_y grid_z bhsd|bshd [q_lens] [kv_lens] [prefix_lens]
//   (lengths comma-separated, one per batch entry; "-" for none)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

// What the kernel source needs of CUDA, for the host.
struct ag_dim3 {
  unsigned x, y, z;
};
static ag_dim3 blockIdx, gridDim, threadIdx;
#define __device__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __global__ inline
#define __launch_bounds__(...)
#define __shared__
#define __align__(n)
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline float __shfl_xor_sync(unsigned, float x, int) { return x; }
inline bool __any_sync(unsigned, bool b) { return b; }
inline void __syncthreads() {}
// The test replaces each inline PTX statement by this (never executed here).
#define AG_HOST_ASM(...) __builtin_trap()
inline void __syncwarp() {}

#include AG_RENDERED  // the rendered kernel (codegen/cuda/render.cpp)

namespace {

int failures = 0;
void fail(const std::string& what) {
  if (++failures <= 20) std::printf("FAIL %s\n", what.c_str());
}

std::vector<int> lengths(const char* arg) {
  std::vector<int> v;
  if (!arg || std::strcmp(arg, "-") == 0) return v;
  for (const char* s = arg; *s;) {
    char* end = nullptr;
    v.push_back(int(std::strtol(s, &end, 10)));
    s = *end == ',' ? end + 1 : end;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s B Sq Skv grid_x grid_y grid_z bhsd|bshd [q_lens] [kv_lens] [prefix_lens]\n",
                 argv[0]);
    return 2;
  }
  const ag_i64 B = std::atoll(argv[1]), SQ = std::atoll(argv[2]), SKV = std::atoll(argv[3]);
  gridDim = {unsigned(std::atoi(argv[4])), unsigned(std::atoi(argv[5])), unsigned(std::atoi(argv[6]))};
  const bool bshd = std::strcmp(argv[7], "bshd") == 0;
  const std::vector<int> q_lens = lengths(argc > 8 ? argv[8] : nullptr), kv_lens = lengths(argc > 9 ? argv[9] : nullptr),
                         prefix_lens = lengths(argc > 10 ? argv[10] : nullptr);
  const ag_i64 HQ = AG_NUM_HEADS, HKV = HQ / AG_GROUP, D = AG_HEAD_DIM, DV = AG_HEAD_DIM_V;

  std::vector<ag_elem> q(B * HQ * SQ * D), k(B * HKV * SKV * D), v(B * HKV * SKV * DV), o(B * HQ * SQ * DV);
  std::vector<float> lse(B * HQ * SQ, 0.f), slopes(B * HQ), mask(B * HQ * SQ * SKV);
  std::vector<int> q_doc(B * SQ, 0), kv_doc(B * SKV, 0);
  AttnParams p;
  std::memset(&p, 0, sizeof p);
  p.q = q.data(), p.k = k.data(), p.v = v.data(), p.o = o.data(), p.lse = lse.data();
  p.batch = B, p.sq = SQ, p.skv = SKV;
  const auto strides = [&](ag_i64* str, ag_i64 h, ag_i64 s, ag_i64 d) {
    str[0] = h * s * d, str[1] = bshd ? d : s * d, str[2] = bshd ? h * d : d, str[3] = 1;
  };
  strides(p.q_str, HQ, SQ, D);
  strides(p.k_str, HKV, SKV, D);
  strides(p.v_str, HKV, SKV, DV);
  strides(p.o_str, HQ, SQ, DV);
  p.lse_str[0] = HQ * SQ, p.lse_str[1] = SQ, p.lse_str[2] = 1;
  if (!q_lens.empty()) p.q_lens = q_lens.data(), p.q_lens_str = 1;
  if (!kv_lens.empty()) p.kv_lens = kv_lens.data(), p.kv_lens_str = 1;
  if (!prefix_lens.empty()) p.prefix_lens = prefix_lens.data(), p.prefix_lens_str = 1;
  p.q_doc = q_doc.data(), p.kv_doc = kv_doc.data();
  p.q_doc_str[0] = SQ, p.q_doc_str[1] = 1, p.kv_doc_str[0] = SKV, p.kv_doc_str[1] = 1;
  // Slopes and mask values name their element, so a read of the wrong one shows.
  for (ag_i64 x = 0; x < B * HQ; ++x) slopes[x] = float(x + 1);
  for (ag_i64 x = 0; x < ag_i64(mask.size()); ++x) mask[x] = float(x + 1);
  p.alibi = slopes.data(), p.alibi_str[0] = HQ, p.alibi_str[1] = 1;
  p.mask = mask.data(), p.mask_type = AG_MASK_F32;
  p.mask_str[0] = HQ * SQ * SKV, p.mask_str[1] = SQ * SKV, p.mask_str[2] = SKV, p.mask_str[3] = 1;

  const int splits = int(gridDim.z / B);
  const ag_i64 part_rows = B * HQ * SQ;
  std::vector<float> part(splits > 1 ? size_t(splits * part_rows * (DV + 1)) : 0);
  std::vector<int> seen(splits * part_rows, 0);  // (split, b, h, i)
  // Each tile's key blocks whole, and each split's share of them.
  std::map<std::tuple<unsigned, unsigned, ag_i64>, std::pair<AgTile, std::vector<AgTile>>> tiles;
  long rows = 0;
  for (unsigned bz = 0; bz < gridDim.z; ++bz)
    for (unsigned by = 0; by < gridDim.y; ++by)
      for (unsigned bx = 0; bx < gridDim.x; ++bx) {
        blockIdx = {bx, by, bz};
        const AgTile share = splits > 1 ? ag_tile<true>(p) : ag_tile<false>(p);
        const int split = ag_split(p);
        // The tile whole: what the unsplit launch's block computes.
        const ag_dim3 grid = gridDim;
        gridDim.z = unsigned(B), blockIdx.z = unsigned(share.e.b);
        const AgTile t = ag_tile<false>(p);
        gridDim = grid, blockIdx.z = bz;
        auto& tile = tiles[{bx, by, t.e.b}];
        tile.first = t;
        tile.second.resize(splits, t);
        tile.second[split] = share;
        const AgEntry& e = t.e;
        const AgViews view = ag_views(p, e);
        const AgOut out = ag_out(p, e);
        const std::string block = "block (" + std::to_string(bx) + ", " + std::to_string(by) + ", " +
                                  std::to_string(bz) + ")";
        for (int r = 0; r < AG_BLOCK_M; ++r) {
          const ag_i64 x = t.x0 + r;
          const AgRow row = ag_row(p, e, x);
          const ag_i64 b = e.b, h = e.h + row.dh, i = row.i;
          const std::string at = block + " row " + std::to_string(r) + " (b " + std::to_string(b) + ", h " +
                                 std::to_string(h) + ", i " + std::to_string(i) + ")";
          if (h < 0 || h >= HQ || h / AG_GROUP != e.hk) fail(at + ": head outside the block's KV group");
          const bool valid = i < e.ctx.sq;
          if ((x < t.x_end) != valid) fail(at + ": x_end disagrees with the row's query");
          if (!valid && AG_HAS_CUSTOM && row.lo <= row.hi) fail(at + ": a row past Sq allows keys (its mask row would be read)");
          if (i >= SQ) continue;  // not ours: the kernel stores nothing
          ++rows;
          const ag_i64 x_out = (b * HQ + h) * SQ + i;
          ++seen[split * part_rows + x_out];
          if (splits > 1) {
            const AgPartial pp = ag_partial(p, part.data(), e, row);
            if (pp.o != part.data() + (split * part_rows + x_out) * DV ||
                pp.lse != part.data() + splits * part_rows * DV + split * part_rows + x_out)
              fail(at + ": split " + std::to_string(split) + "'s partial results in the wrong place");
          }
          if (valid && view.q.base + view.q.offset(x) != q.data() + b * p.q_str[0] + h * p.q_str[1] + i * p.q_str[2])
            fail(at + ": Q row loaded from the wrong address");
          if (out.row(row) != o.data() + b * p.o_str[0] + h * p.o_str[1] + i * p.o_str[2])
            fail(at + ": O row stored to the wrong address");
          const float mark = float(1 + (b * HQ + h) * SQ + i);
          ag_store_lse(p, e, row, mark);
          if (AG_RETURN_LSE && lse[(b * HQ + h) * SQ + i] != mark) fail(at + ": LSE stored to the wrong element");
          if (AG_HAS_ALIBI && row.slope != slopes[b * HQ + h]) fail(at + ": another head's ALiBi slope");
          if (AG_HAS_CUSTOM && valid && e.ctx.skv > 0 &&
              ag_custom_mask_value(p, e, row, 0) != mask[((b * HQ + h) * SQ + i) * SKV])
            fail(at + ": another element's custom mask");
          if (!valid) continue;
          // Every allowed key (index masks) lies in a visited block; full blocks allow all their keys.
          for (ag_i64 j = row.lo; j <= row.hi; ++j)
            if (j / AG_BLOCK_N < t.nb_begin || j / AG_BLOCK_N >= t.nb_end) {
              fail(at + ": allowed key " + std::to_string(j) + " in a block not visited");
              break;
            }
          for (ag_i64 nb = t.full_begin; nb < t.full_end; ++nb)
            if (nb < t.nb_begin || nb >= t.nb_end || nb * AG_BLOCK_N < row.lo || (nb + 1) * AG_BLOCK_N - 1 > row.hi) {
              fail(at + ": full block " + std::to_string(nb) + " is not allowed for every key");
              break;
            }
        }
        if (AG_HAS_CUSTOM && t.x0 + AG_BLOCK_M > t.x_end && t.full_begin < t.full_end)
          fail(block + ": full blocks in a tile with rows past Sq (their mask rows would be read)");
      }
  for (ag_i64 x = 0; x < ag_i64(seen.size()); ++x)
    if (seen[x] != 1)
      fail("(split " + std::to_string(x / part_rows) + ", b " + std::to_string(x % part_rows / (HQ * SQ)) + ", h " +
           std::to_string(x / SQ % HQ) + ", i " + std::to_string(x % SQ) + ") is the row of " +
           std::to_string(seen[x]) + " blocks");
  // The splits' shares: in order, back to back, together the tile's blocks.
  for (const auto& [key, tile] : tiles) {
    ag_i64 next = tile.first.nb_begin;
    for (const AgTile& share : tile.second) {
      if (share.nb_begin > share.nb_end || (share.nb_begin < share.nb_end && share.nb_begin != next) ||
          share.full_begin != tile.first.full_begin || share.full_end != tile.first.full_end)
        fail("tile (" + std::to_string(std::get<0>(key)) + ", " + std::to_string(std::get<1>(key)) + ", b " +
             std::to_string(std::get<2>(key)) + "): a split's share is not the next of its key blocks");
      if (share.nb_begin < share.nb_end) next = share.nb_end;
    }
    if (next != tile.first.nb_end)
      fail("tile (" + std::to_string(std::get<0>(key)) + ", " + std::to_string(std::get<1>(key)) + ", b " +
           std::to_string(std::get<2>(key)) + "): the splits cover key blocks up to " + std::to_string(next) +
           ", not " + std::to_string(tile.first.nb_end));
  }
#if AG_DTYPE == AG_DTYPE_F32
  // The merge, on partials made up here: an empty row (no split allowed a
  // key), a row with a NaN LSE, and the rest mixing empty and weighted splits.
  if (splits > 1) {
    const float inf = INFINITY;
    float* lse_part = part.data() + splits * part_rows * DV;
    for (int s = 0; s < splits; ++s)
      for (ag_i64 x = 0; x < part_rows; ++x) {
        lse_part[s * part_rows + x] = x <= 1 || (x + s) % 5 == 0 ? -inf : 0.37f * s - 0.11f * float(x % 7);
        if (x == 1 && s == splits - 1) lse_part[s * part_rows + x] = NAN;  // NaN, and the other splits empty
        for (ag_i64 c = 0; c < DV; ++c)
          part[(s * part_rows + x) * DV + c] = lse_part[s * part_rows + x] == -inf ? 0.f : std::sin(float(x * 31 + s * 7 + c));
      }
    std::fill(o.begin(), o.end(), ag_elem(-99));
    gridDim = {unsigned(SQ), unsigned(HQ), unsigned(B)};
    for (unsigned b = 0; b < B; ++b)
      for (unsigned h = 0; h < HQ; ++h)
        for (unsigned i = 0; i < SQ; ++i)
          for (unsigned thread = 0; thread < AG_MERGE_THREADS; ++thread) {
            blockIdx = {i, h, b}, threadIdx = {thread, 0, 0};
            AG_MERGE_ENTRY(p, part.data(), splits);
          }
    for (ag_i64 x = 0; x < part_rows; ++x) {
      const ag_i64 b = x / (HQ * SQ), h = x / SQ % HQ, i = x % SQ;
      double mx = -INFINITY, sum = 0;
      bool nan = false;
      for (int s = 0; s < splits; ++s) nan = nan || std::isnan(lse_part[s * part_rows + x]);
      for (int s = 0; s < splits; ++s) mx = std::fmax(mx, lse_part[s * part_rows + x]);
      for (int s = 0; s < splits && mx != -INFINITY; ++s) sum += std::exp(double(lse_part[s * part_rows + x]) - mx);
      const std::string at = "merge of (b " + std::to_string(b) + ", h " + std::to_string(h) + ", i " +
                             std::to_string(i) + ")";
      const float got_lse = lse[(b * HQ + h) * SQ + i];
      const double want_lse = nan ? NAN : mx == -INFINITY ? -INFINITY : mx + std::log(sum);
      if (AG_RETURN_LSE && !(std::isnan(want_lse) ? std::isnan(got_lse)
                                                  : std::isinf(want_lse) ? got_lse == want_lse
                                                                         : std::fabs(got_lse - want_lse) <= 1e-5))
        fail(at + ": LSE " + std::to_string(got_lse) + ", expected " + std::to_string(want_lse));
      for (ag_i64 c = 0; c < DV; ++c) {
        double want = 0;
        for (int s = 0; s < splits && mx != -INFINITY; ++s)
          want += std::exp(double(lse_part[s * part_rows + x]) - mx) * part[(s * part_rows + x) * DV + c] / sum;
        if (nan) want = NAN;
        const float got = o[b * p.o_str[0] + h * p.o_str[1] + i * p.o_str[2] + c];
        if (!(std::isnan(want) ? std::isnan(got) : std::fabs(got - want) <= 1e-5)) {
          fail(at + " column " + std::to_string(c) + ": " + std::to_string(got) + ", expected " + std::to_string(want));
          break;
        }
      }
    }
  }
#endif
  std::printf("%s: %ld rows, %d failures\n", failures ? "FAILED" : "ok", rows, failures);
  return failures ? 1 : 0;
}
