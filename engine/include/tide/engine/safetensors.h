// Reading and writing safetensors files (Hugging Face's tensor container).
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the raw little-endian data; offsets count from the end of the header.
//
// SafetensorsFile maps a file read-only and validates its whole header on Open: the
// length fits the file, the JSON is an object, each entry has a supported dtype (F32,
// BF16, F16; others are rejected by name), a shape of non-negative dimensions and
// data_offsets whose size matches the shape, and the tensors tile the data section
// exactly (in bounds, no overlap, no gap, nothing left over). A truncated or corrupt file
// yields DATA_LOSS, an unsupported dtype INVALID_ARGUMENT; the message names the file and
// the tensor. After a successful Open no read can go outside the mapping. (As with any
// mmap, truncating the file while it is mapped would fault; checkpoints are written by
// rename, never rewritten in place.)
//
// WriteSafetensors writes the same layout atomically: a temporary file in the same
// folder, fsync, rename over `path`, fsync of the folder. Tensors are laid out by element
// size (largest first, then in the given order) and the header is padded with spaces to
// a multiple of 8 bytes, as the safetensors library does, so every tensor is aligned to
// its element size.
//
// Thread-safety: a SafetensorsFile is immutable after Open; concurrent reads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/dtype.h"

namespace tide::engine {

struct SafetensorsEntry {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // data_offsets, relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const;  // 1 for a scalar (shape [])
};

class SafetensorsFile {
 public:
  // NOT_FOUND if the file cannot be opened; DATA_LOSS / INVALID_ARGUMENT as above.
  static Result<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // Every tensor, sorted by name.
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }
  // nullptr when absent.
  const SafetensorsEntry* Find(std::string_view name) const;
  // The "__metadata__" object (HF writes {"format": "pt"}).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's bytes as stored; valid while this object lives. NOT_FOUND if absent.
  Result<std::span<const std::byte>> Raw(std::string_view name) const;
  // The tensor converted to f32 into out[0, count); count must equal its numel.
  Status ReadF32(std::string_view name, float* out, size_t count) const;
  Result<std::vector<float>> ReadF32(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  Status ParseHeader(uint64_t header_len);
  void Unmap();

  std::string path_;
  const std::byte* map_ = nullptr;
  size_t map_size_ = 0;
  const std::byte* data_ = nullptr;  // start of the data section inside map_
  uint64_t data_size_ = 0;
  std::vector<SafetensorsEntry> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// One tensor for WriteSafetensors: exactly one of `f32` (converted to `dtype` while
// writing) or `raw` (numel * DtypeSize(dtype) bytes already in `dtype`) is set; either
// may be null when numel is 0. The pointed-to data must outlive the call.
struct SafetensorsTensor {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<int64_t> shape;
  const float* f32 = nullptr;
  const void* raw = nullptr;
};

// INVALID_ARGUMENT for duplicate, empty or reserved ("__metadata__") names, negative
// dimensions or a missing data pointer; INTERNAL for IO errors. On failure `path` is left
// as it was.
Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace tide::engine
