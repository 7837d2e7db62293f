// Whole-file I/O: crash-safe replacement of a file, and reading one into memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attngen {

// Writes `data` to a fresh temporary next to `path`, fsyncs it and renames it
// over `path`, so readers see either the old file or the complete new one.
// On failure the temporary is removed and attngen::Error names the path.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// The whole file. Throws Error("<what>: cannot read '<path>': <strerror>").
std::vector<uint8_t> read_file(const std::string& path, const std::string& what);

}  // namespace attngen
