#include "tide/engine/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tide::engine {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = std::string(TIDE_SOURCE_DIR) + "/tests/data/qwen3_moe_tiny";

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "tide_safetensors_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string ReadBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Rewrites in place and then sets the size: truncating to zero first would make ext4
  // flush on close (auto_da_alloc), which costs milliseconds per call.
  static void WriteBytes(const std::string& path, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(bytes.size())), 0);
    ::close(fd);
  }
  // A file with the given header text (its length prefixed) and `data_bytes` zero bytes.
  std::string Handmade(const std::string& header, size_t data_bytes) {
    const uint64_t n = header.size();
    std::string bytes(reinterpret_cast<const char*>(&n), 8);
    bytes += header;
    bytes.append(data_bytes, '\0');
    const std::string path = Path("handmade.safetensors");
    WriteBytes(path, bytes);
    return path;
  }

  fs::path dir_;
};

std::vector<float> Ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * (static_cast<float>(i) - n / 2.f) + 0.3f;
  return v;
}

TEST_F(SafetensorsTest, RoundTripInEveryDtype) {
  const std::vector<float> a = Ramp(6, 0.37f), b = Ramp(24, 1.1f), c = Ramp(5, 1e-3f);
  const std::vector<uint16_t> raw_bf16 = {0x3F80, 0xC000, 0x7F80};
  const float scalar = 42.5f;
  const std::vector<SafetensorsTensor> tensors = {
      {"a.f32", Dtype::kF32, {2, 3}, a.data(), nullptr},
      {"b.bf16", Dtype::kBF16, {2, 3, 4}, b.data(), nullptr},
      {"c.f16", Dtype::kF16, {5}, c.data(), nullptr},
      {"d.raw", Dtype::kBF16, {3}, nullptr, raw_bf16.data()},
      {"e.scalar", Dtype::kF32, {}, &scalar, nullptr},
      {"f.empty", Dtype::kF16, {0, 4}, nullptr, nullptr},
  };
  const std::string path = Path("m.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"note", "hi"}}).ok());

  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->tensors().size(), tensors.size());
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "hi");
  EXPECT_EQ(f->tensors()[0].name, "a.f32");  // sorted by name
  EXPECT_EQ(f->Find("b.bf16")->shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(f->Find("b.bf16")->dtype, Dtype::kBF16);

  EXPECT_EQ(*f->ReadF32("a.f32"), a);
  std::vector<float> got = *f->ReadF32("b.bf16");
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(got[i], Bf16ToF32(F32ToBf16(b[i])));
  got = *f->ReadF32("c.f16");
  for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(got[i], F16ToF32(F32ToF16(c[i])));
  EXPECT_EQ(*f->ReadF32("d.raw"), (std::vector<float>{1.f, -2.f, INFINITY}));
  EXPECT_EQ(*f->ReadF32("e.scalar"), std::vector<float>{42.5f});
  EXPECT_TRUE(f->ReadF32("f.empty")->empty());

  Result<std::span<const std::byte>> raw = f->Raw("d.raw");
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 6u);
  EXPECT_EQ(std::memcmp(raw->data(), raw_bf16.data(), 6), 0);

  // Moving the file keeps the mapping.
  SafetensorsFile moved = std::move(f).value();
  EXPECT_EQ(*moved.ReadF32("a.f32"), a);

  EXPECT_EQ(moved.ReadF32("nope").status().code(), StatusCode::kNotFound);
  std::vector<float> small(2);
  Status st = moved.ReadF32("a.f32", small.data(), small.size());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("\"a.f32\""), std::string::npos);
}

TEST_F(SafetensorsTest, HeaderLayoutFollowsTheSpec) {
  const std::vector<float> a = Ramp(3, 1.f), b = Ramp(8, 1.f), c = Ramp(4, 1.f);
  const std::string path = Path("layout.safetensors");
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"z.half", Dtype::kBF16, {3}, a.data(), nullptr},
                                {"y.full", Dtype::kF32, {2, 4}, b.data(), nullptr},
                                {"x.half", Dtype::kF16, {4}, c.data(), nullptr}},
                               {{"format", "pt"}})
                  .ok());
  const std::string bytes = ReadBytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // padded so that the data starts 8-aligned
  ASSERT_LE(8 + n, bytes.size());
  const std::string header_text = bytes.substr(8, n);
  EXPECT_EQ(header_text.front(), '{');
  const nlohmann::json header = nlohmann::json::parse(header_text);
  EXPECT_EQ(header["__metadata__"], nlohmann::json({{"format", "pt"}}));
  EXPECT_EQ(header["y.full"]["dtype"], "F32");
  EXPECT_EQ(header["y.full"]["shape"], nlohmann::json({2, 4}));
  // The f32 tensor comes first (alignment), then the 2-byte ones in the given order.
  EXPECT_EQ(header["y.full"]["data_offsets"], nlohmann::json({0, 32}));
  EXPECT_EQ(header["z.half"]["data_offsets"], nlohmann::json({32, 38}));
  EXPECT_EQ(header["x.half"]["data_offsets"], nlohmann::json({38, 46}));
  EXPECT_EQ(bytes.size(), 8 + n + 46);
  float first = 0;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  EXPECT_EQ(first, b[0]);
  uint16_t half = 0;
  std::memcpy(&half, bytes.data() + 8 + n + 32, 2);
  EXPECT_EQ(half, F32ToBf16(a[0]));
}

TEST_F(SafetensorsTest, ReadsTheTransformersFixture) {
  for (const char* sub : {"f32", "bf16"}) {
    Result<SafetensorsFile> f = SafetensorsFile::Open(kFixture + "/" + sub + "/model.safetensors");
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->tensors().size(), 69u);
    EXPECT_EQ(f->metadata().at("format"), "pt");
    const SafetensorsEntry* e = f->Find("model.layers.1.mlp.experts.7.down_proj.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->shape, (std::vector<int64_t>{64, 32}));
    EXPECT_EQ(e->dtype, std::string(sub) == "f32" ? Dtype::kF32 : Dtype::kBF16);
  }
}

TEST_F(SafetensorsTest, WriterRejectsBadInput) {
  const float x[4] = {1, 2, 3, 4};
  const std::string path = Path("bad.safetensors");
  auto write = [&](std::vector<SafetensorsTensor> t) { return WriteSafetensors(path, t); };
  EXPECT_EQ(write({{"a", Dtype::kF32, {4}, x, nullptr}, {"a", Dtype::kF32, {4}, x, nullptr}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(write({{"", Dtype::kF32, {4}, x, nullptr}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write({{"__metadata__", Dtype::kF32, {4}, x, nullptr}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write({{"a", Dtype::kF32, {-1}, x, nullptr}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write({{"a", Dtype::kF32, {4}, nullptr, nullptr}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write({{"a", Dtype::kF32, {4}, x, x}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write({{"bad\xff", Dtype::kF32, {4}, x, nullptr}}).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path));
  Status st = WriteSafetensors(Path("no/such/dir/m.safetensors"), {{"a", Dtype::kF32, {4}, x, nullptr}});
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(st.message().find("no/such/dir/m.safetensors"), std::string::npos);
}

TEST_F(SafetensorsTest, OverwriteIsAtomicAndLeavesNoTemporaries) {
  const float x[2] = {1, 2}, y[3] = {5, 6, 7};
  const std::string path = Path("m.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", Dtype::kF32, {2}, x, nullptr}}).ok());
  ASSERT_TRUE(WriteSafetensors(path, {{"b", Dtype::kF32, {3}, y, nullptr}}).ok());
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Find("a"), nullptr);
  EXPECT_EQ(*f->ReadF32("b"), (std::vector<float>{5, 6, 7}));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

struct Corrupt {
  const char* what;
  std::string header;
  size_t data_bytes;
  StatusCode code;
  const char* mention;  // the message must contain this (the tensor, usually)
};

TEST_F(SafetensorsTest, RejectsCorruptHeaders) {
  const std::vector<Corrupt> cases = {
      {"not json", "{\"a\": {\"dtype\": \"F32\", ", 0, StatusCode::kDataLoss, "not valid JSON"},
      {"garbage", "\x01\x02\xff\xfe garbage!", 0, StatusCode::kDataLoss, "not valid JSON"},
      {"not an object", "[1, 2, 3]", 0, StatusCode::kDataLoss, "must be a JSON object"},
      {"entry not object", R"({"w": 5})", 0, StatusCode::kDataLoss, "\"w\""},
      {"unsupported dtype", R"({"ids": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})", 16,
       StatusCode::kInvalidArgument, "tensor \"ids\": dtype \"I64\" is not supported"},
      {"no dtype", R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 8, StatusCode::kDataLoss, "\"w\""},
      {"bad shape", R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8,
       StatusCode::kDataLoss, "\"w\""},
      {"float shape", R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8,
       StatusCode::kDataLoss, "\"w\""},
      {"size mismatch", R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8,
       StatusCode::kDataLoss, "tensor \"w\": data_offsets [0, 8] hold 8 bytes"},
      {"reversed offsets", R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", 8,
       StatusCode::kDataLoss, "\"w\""},
      {"past the end", R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12,
       StatusCode::kDataLoss, "tensor \"w\": data_offsets [0, 16] run past the end"},
      {"overlap",
       R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
       12, StatusCode::kDataLoss, "tensor \"b\": data overlaps tensor \"a\""},
      {"gap",
       R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
           "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
       12, StatusCode::kDataLoss, "tensor \"b\": 4 bytes before it belong to no tensor"},
      {"trailing bytes", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 9,
       StatusCode::kDataLoss, "5 bytes after the last tensor"},
      {"huge shape", R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0,
       StatusCode::kDataLoss, "\"w\""},
      {"bad metadata", R"({"__metadata__": {"format": 1}})", 0, StatusCode::kDataLoss, "__metadata__"},
  };
  for (const Corrupt& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = Handmade(c.header, c.data_bytes);
    Result<SafetensorsFile> f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), c.code) << f.status().ToString();
    EXPECT_NE(f.status().message().find(path), std::string::npos) << f.status().message();
    EXPECT_NE(f.status().message().find(c.mention), std::string::npos) << f.status().message();
  }
  // An empty tensor list with metadata only is a valid file.
  EXPECT_TRUE(SafetensorsFile::Open(Handmade(R"({"__metadata__": {"format": "pt"}})", 0)).ok());
}

TEST_F(SafetensorsTest, RejectsShortAndMissingFiles) {
  EXPECT_EQ(SafetensorsFile::Open(Path("missing.safetensors")).status().code(), StatusCode::kNotFound);
  const std::string path = Path("short.safetensors");
  WriteBytes(path, "abc");
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  EXPECT_EQ(f.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(f.status().message().find("3 bytes"), std::string::npos);
  WriteBytes(path, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10));  // absurd length
  EXPECT_EQ(SafetensorsFile::Open(path).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(SafetensorsFile::Open(dir_.string()).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SafetensorsTest, EveryTruncationAndRandomDamageFailsCleanly) {
  const std::vector<float> a = Ramp(7, 0.5f), b = Ramp(9, 0.25f);
  const std::string good_path = Path("good.safetensors");
  ASSERT_TRUE(WriteSafetensors(good_path,
                               {{"model.a", Dtype::kF32, {7}, a.data(), nullptr},
                                {"model.b", Dtype::kBF16, {3, 3}, b.data(), nullptr}},
                               {{"format", "pt"}})
                  .ok());
  const std::string good = ReadBytes(good_path);
  const std::string path = Path("damaged.safetensors");
  for (size_t len = 0; len < good.size(); ++len) {
    WriteBytes(path, good.substr(0, len));
    Result<SafetensorsFile> f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok()) << "prefix of " << len << " bytes opened";
    ASSERT_EQ(f.status().code(), StatusCode::kDataLoss) << f.status().ToString();
  }
  // Truncating the data names the last tensor, whose bytes are cut.
  WriteBytes(path, good.substr(0, good.size() - 1));
  EXPECT_NE(SafetensorsFile::Open(path).status().message().find("\"model.b\""), std::string::npos);

  std::mt19937 rng(11);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bad[rng() % bad.size()] = static_cast<char>(rng());
    WriteBytes(path, bad);
    Result<SafetensorsFile> f = SafetensorsFile::Open(path);  // must not crash
    if (f.ok()) {
      for (const SafetensorsEntry& e : f->tensors()) {
        std::vector<float> out(static_cast<size_t>(e.numel()));
        EXPECT_TRUE(f->ReadF32(e.name, out.data(), out.size()).ok());
      }
    }
  }
}

}  // namespace
}  // namespace tide::engine
