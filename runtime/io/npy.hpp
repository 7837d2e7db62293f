// NumPy .npy files: the on-disk form of tensors given to and produced by the
// CLI. Reads format 1.0/2.0/3.0, writes 1.0 (2.0 when the header needs it).
// C order and little-endian only; bf16 travels as raw uint16 bits ('<u2').
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/dtype.hpp"
#include "runtime/core/tensor.hpp"

namespace attngen {

struct NpyArray {
  ElemType type = ElemType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // numel * elem_size, C order
  std::string name, path;      // the tensor and file it was read as (path "" from memory), for messages

  // contiguous_view over `bytes`; throws Error naming the tensor and the file
  // for rank > kMaxRank.
  TensorRef view() const;
};

// `name` names the tensor in every error message, e.g. "q" or "kv_lens".
NpyArray read_npy(const std::string& path, const std::string& name);
NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& name);

std::vector<uint8_t> encode_npy(ElemType type, const std::vector<int64_t>& shape, const void* data);
// Atomic, through OutputFiles (links, permission bits and special files survive).
void write_npy(const std::string& path, ElemType type, const std::vector<int64_t>& shape,
               const void* data);

// "<f4", "<f2", "<u2", "<i4", "|u1", "|b1"
const char* npy_descr(ElemType t);

}  // namespace attngen
