#include "runtime/x86/mask_summary.hpp"

#include <algorithm>

#include "codegen/spec/semantics.hpp"
#include "codegen/x86/abi.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/half.hpp"
#include "runtime/x86/convert.hpp"

namespace attngen::x86 {

MaskBlocks::MaskBlocks(const TensorRef& m) {
  // Broadcast axes (stride 0) are summarised once; an empty axis not at all.
  auto count = [&m](int d) { return m.stride[d] ? m.shape[d] : std::min<int64_t>(m.shape[d], 1); };
  const int64_t nb = count(0), nh = count(1), ni = count(2), skv = m.shape[3];
  const int64_t nblocks = (skv + kBlockKeys - 1) / kBlockKeys;
  si_ = m.stride[2] ? nblocks : 0;
  sh_ = m.stride[1] ? ni * nblocks : 0;
  sb_ = m.stride[0] ? nh * ni * nblocks : 0;
  bits_.resize(size_t(nb * nh * ni * nblocks));
  size_t out = 0;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t i = 0; i < ni; ++i) {
        const char* row = element_ptr(m, b, h, i);
        for (int64_t kb = 0; kb < nblocks; ++kb) {
          MaskSummary s;
          const int64_t j0 = kb * kBlockKeys, n = std::min<int64_t>(kBlockKeys, skv - j0);
          scan_mask(m.type, row + j0 * m.stride[3] * int64_t(elem_size(m.type)), m.stride[3], n, &s);
          if (s.invalid >= 0) {
            const char* e = row + (j0 + s.invalid) * m.stride[3] * int64_t(elem_size(m.type));
            const double v = m.type == ElemType::f32 ? *reinterpret_cast<const float*>(e)
                             : m.type == ElemType::f16 ? f16_to_float(*reinterpret_cast<const uint16_t*>(e))
                                                        : bf16_to_float(*reinterpret_cast<const uint16_t*>(e));
            throw Error(additive_value_error(b, h, i, j0 + s.invalid, v));
          }
          bits_[out++] = uint8_t((s.any ? kAny : 0) | (s.all ? kAll : 0));
        }
      }
}

}  // namespace attngen::x86
