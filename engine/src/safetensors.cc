#include "tide/engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace tide::engine {

namespace {

// The safetensors library refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Quoted(std::string_view name) { return "\"" + std::string(name) + "\""; }

std::string ErrnoText() { return std::strerror(errno); }

// Element count of `shape` (1 for a scalar); false on overflow of `max_bytes / elem`.
bool CountElements(const std::vector<int64_t>& shape, size_t elem_size, uint64_t* numel) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(elem_size), &bytes)) return false;
  *numel = n;
  return true;
}

// A file written under a temporary name and renamed over `path` on Commit; removed if
// never committed.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)) {}
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
  }

  Status Open() {
    static std::atomic<uint64_t> counter{0};
    tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      const std::string why = ErrnoText();
      tmp_.clear();
      return IoError(path_ + ": cannot create a temporary file: " + why);
    }
    return Status::Ok();
  }

  Status Append(const void* data, size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError(path_ + ": write failed: " + ErrnoText());
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }

  Status Commit() {
    if (::fsync(fd_) != 0) return IoError(path_ + ": fsync failed: " + ErrnoText());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return IoError(path_ + ": close failed: " + ErrnoText());
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) return IoError(path_ + ": rename failed: " + ErrnoText());
    committed_ = true;
    std::string dir = std::filesystem::path(path_).parent_path().string();
    if (dir.empty()) dir = ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // best effort: makes the rename itself durable
      ::fsync(dfd);
      ::close(dfd);
    }
    return Status::Ok();
  }

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return IoError(path + ": cannot open: " + ErrnoText());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return DataLoss(path + ": file is " + std::to_string(size) +
                    " bytes, too short for the 8-byte header length (truncated?)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return IoError(path + ": mmap failed: " + ErrnoText());
  SafetensorsFile file;
  file.path_ = path;
  file.map_ = static_cast<const std::byte*>(map);
  file.map_size_ = size;
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.map_, 8);  // little-endian host (dtype.cc checks)
  TIDE_RETURN_IF_ERROR(file.ParseHeader(header_len));
  return file;
}

Status SafetensorsFile::ParseHeader(uint64_t header_len) {
  const uint64_t rest = map_size_ - 8;
  if (header_len > rest) {
    return DataLoss(path_ + ": header length " + std::to_string(header_len) + " exceeds the " +
                    std::to_string(rest) + " bytes after it (truncated or not a safetensors file?)");
  }
  if (header_len > kMaxHeaderBytes) {
    return DataLoss(path_ + ": header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  }
  const char* text = reinterpret_cast<const char*>(map_ + 8);
  data_ = map_ + 8 + header_len;
  data_size_ = rest - header_len;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, text + header_len, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception& e) {
    return DataLoss(path_ + ": header is not valid JSON: " + e.what());
  }
  if (header.is_discarded()) return DataLoss(path_ + ": header is not valid JSON");
  if (!header.is_object()) {
    return DataLoss(path_ + ": header must be a JSON object, got " + std::string(header.type_name()));
  }
  auto bad = [&](const std::string& name, const std::string& what) {
    return DataLoss(path_ + ": tensor " + Quoted(name) + ": " + what);
  };
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return DataLoss(path_ + ": \"__metadata__\" must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m->is_string()) return DataLoss(path_ + ": \"__metadata__\" value " + Quoted(m.key()) + " is not a string");
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) return bad(name, "entry must be an object, got " + v.dump());
    SafetensorsEntry e;
    e.name = name;
    const auto dtype_it = v.find("dtype");
    if (dtype_it == v.end() || !dtype_it->is_string()) return bad(name, "\"dtype\" is missing or not a string");
    const std::string dtype_name = dtype_it->get<std::string>();
    const auto dtype = DtypeFromName(dtype_name);
    if (!dtype) {
      return InvalidArgument(path_ + ": tensor " + Quoted(name) + ": dtype " + Quoted(dtype_name) +
                             " is not supported (F32, BF16, F16)");
    }
    e.dtype = *dtype;
    const auto shape_it = v.find("shape");
    if (shape_it == v.end() || !shape_it->is_array()) return bad(name, "\"shape\" is missing or not a list");
    for (const auto& d : *shape_it) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return bad(name, "\"shape\" must list non-negative integers, got " + shape_it->dump());
      }
      e.shape.push_back(d.get<int64_t>());
    }
    const auto off_it = v.find("data_offsets");
    if (off_it == v.end() || !off_it->is_array() || off_it->size() != 2 || !(*off_it)[0].is_number_unsigned() ||
        !(*off_it)[1].is_number_unsigned()) {
      return bad(name, "\"data_offsets\" must be [begin, end] with non-negative integers");
    }
    e.begin = (*off_it)[0].get<uint64_t>();
    e.end = (*off_it)[1].get<uint64_t>();
    const std::string offsets = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) return bad(name, offsets + " end before they begin");
    uint64_t numel = 0;
    if (!CountElements(e.shape, DtypeSize(e.dtype), &numel)) {
      return bad(name, "shape " + ShapeString(e.shape) + " is too large");
    }
    const uint64_t want = numel * DtypeSize(e.dtype);
    if (e.end - e.begin != want) {
      return bad(name, offsets + " hold " + std::to_string(e.end - e.begin) + " bytes, but shape " +
                           ShapeString(e.shape) + " of " + dtype_name + " needs " + std::to_string(want));
    }
    if (e.end > data_size_) {
      return bad(name, offsets + " run past the end of the data (" + std::to_string(data_size_) +
                           " bytes; file truncated?)");
    }
    tensors_.push_back(std::move(e));
  }
  // The tensors must tile the data section: sorted by offset, each starts where the
  // previous one ended, and the last ends at the end of the file.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : tensors_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry* e : by_offset) {
    if (e->begin < pos) return bad(e->name, "data overlaps tensor " + Quoted(prev->name));
    if (e->begin > pos) {
      return bad(e->name, std::to_string(e->begin - pos) + " bytes before it belong to no tensor");
    }
    pos = e->end;
    prev = e;
  }
  if (pos != data_size_) {
    return DataLoss(path_ + ": " + std::to_string(data_size_ - pos) +
                    " bytes after the last tensor belong to no tensor");
  }
  std::sort(tensors_.begin(), tensors_.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  return Status::Ok();
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    data_size_ = std::exchange(other.data_size_, 0);
    tensors_ = std::move(other.tensors_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { Unmap(); }

void SafetensorsFile::Unmap() {
  if (map_ != nullptr) ::munmap(const_cast<std::byte*>(map_), map_size_);
  map_ = nullptr;
  map_size_ = 0;
}

const SafetensorsEntry* SafetensorsFile::Find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::span<const std::byte>> SafetensorsFile::Raw(std::string_view name) const {
  const SafetensorsEntry* e = Find(name);
  if (e == nullptr) return NotFound(path_ + ": no tensor " + Quoted(name));
  return std::span<const std::byte>(data_ + e->begin, e->end - e->begin);
}

Status SafetensorsFile::ReadF32(std::string_view name, float* out, size_t count) const {
  const SafetensorsEntry* e = Find(name);
  if (e == nullptr) return NotFound(path_ + ": no tensor " + Quoted(name));
  if (static_cast<uint64_t>(e->numel()) != count) {
    return InvalidArgument(path_ + ": tensor " + Quoted(name) + " has " + std::to_string(e->numel()) +
                           " elements, the destination holds " + std::to_string(count));
  }
  ConvertToF32(e->dtype, data_ + e->begin, out, count);
  return Status::Ok();
}

Result<std::vector<float>> SafetensorsFile::ReadF32(std::string_view name) const {
  const SafetensorsEntry* e = Find(name);
  if (e == nullptr) return NotFound(path_ + ": no tensor " + Quoted(name));
  std::vector<float> out(static_cast<size_t>(e->numel()));
  TIDE_RETURN_IF_ERROR(ReadF32(name, out.data(), out.size()));
  return out;
}

Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> names;
  std::vector<uint64_t> bytes(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const SafetensorsTensor& t = tensors[i];
    const std::string where = path + ": tensor " + Quoted(t.name) + ": ";
    if (t.name.empty() || t.name == "__metadata__") return InvalidArgument(where + "reserved or empty name");
    if (!names.insert(t.name).second) return InvalidArgument(where + "appears twice");
    uint64_t numel = 0;
    if (!CountElements(t.shape, DtypeSize(t.dtype), &numel)) {
      return InvalidArgument(where + "shape " + ShapeString(t.shape) + " has a negative or too large dimension");
    }
    if (numel > 0 && (t.f32 == nullptr) == (t.raw == nullptr)) {
      return InvalidArgument(where + "exactly one of f32 and raw data must be given");
    }
    bytes[i] = numel * DtypeSize(t.dtype);
  }
  // Largest elements first (stable), so each tensor is aligned to its element size.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return DtypeSize(tensors[a].dtype) > DtypeSize(tensors[b].dtype);
  });
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (size_t i : order) {
    header[tensors[i].name] = {{"dtype", std::string(DtypeName(tensors[i].dtype))},
                               {"shape", tensors[i].shape},
                               {"data_offsets", {offset, offset + bytes[i]}}};
    offset += bytes[i];
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(path + ": a tensor name or metadata string is not valid UTF-8: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-aligned, as HF writes it
  const uint64_t header_len = text.size();

  AtomicFile file(path);
  TIDE_RETURN_IF_ERROR(file.Open());
  TIDE_RETURN_IF_ERROR(file.Append(&header_len, sizeof(header_len)));
  TIDE_RETURN_IF_ERROR(file.Append(text.data(), text.size()));
  constexpr size_t kChunk = 1 << 16;  // elements converted per write
  std::vector<unsigned char> buf;
  for (size_t i : order) {
    const SafetensorsTensor& t = tensors[i];
    if (bytes[i] == 0) continue;
    if (t.raw != nullptr) {
      TIDE_RETURN_IF_ERROR(file.Append(t.raw, bytes[i]));
      continue;
    }
    const size_t elem = DtypeSize(t.dtype);
    const size_t numel = bytes[i] / elem;
    for (size_t start = 0; start < numel; start += kChunk) {
      const size_t n = std::min(kChunk, numel - start);
      buf.resize(n * elem);
      ConvertFromF32(t.f32 + start, t.dtype, buf.data(), n);
      TIDE_RETURN_IF_ERROR(file.Append(buf.data(), buf.size()));
    }
  }
  return file.Commit();
}

}  // namespace tide::engine
