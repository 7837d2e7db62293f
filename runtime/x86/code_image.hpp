// The generated code of one x86 kernel as a set of named slots, and its
// relocatable image for the disk cache. Every generator emits
// position-independent code (relative jumps, rip-relative constants inside its
// own buffer), so an image can be mapped anywhere: it is copied into fresh
// pages that are then made read+execute (never writable and executable at once).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attngen::x86 {

enum CodeSlot : int {
  kSlotQk, kSlotPv, kSlotQkDirect, kSlotPvDirect, kSlotQkLanes16, kSlotPvLanes16, kSlotQkLanes32, kSlotPvLanes32,
  kSlotSoftmaxFull, kSlotSoftmaxPartial, kSlotSoftmaxFullDtype, kSlotSoftmaxPartialDtype,
  kNumSlots
};
const char* slot_name(int slot);

struct CodeSet {
  const void* entry[kNumSlots] = {};
  size_t size[kNumSlots] = {};
  std::vector<std::shared_ptr<void>> owners;  // generators or mapped pages

  template <class Fn>
  Fn fn(int slot) const { return reinterpret_cast<Fn>(const_cast<void*>(entry[slot])); }
  bool has(int slot) const { return entry[slot] != nullptr; }
};

// Image: "ATTNGENX86" magic, a version, the plan the code was generated for
// (TilePlan::describe(): ISA, microtile, operand layout), then per slot a size
// and the bytes.
std::vector<uint8_t> encode_image(const CodeSet& code, const std::string& plan);
// Maps an image into executable pages; throws attngen::Error when malformed or
// generated for another plan than `plan` (the code would not match the driver).
CodeSet decode_image(const std::vector<uint8_t>& image, const std::string& plan);

}  // namespace attngen::x86
