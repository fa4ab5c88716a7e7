// `tide bench engine`: GEMM and GEMV speed against OpenBLAS and memory bandwidth, all
// measured in the same run (see engine_bench.h).
//
// Lines (one JSON object each):
//   {"bench":"copy", "gbps", ...}                    memcpy over the default pool, read + write
//   {"bench":"gemm_f32", "m","n","k","ta","tb", "gflops", "openblas_gflops", "ratio", ...}
//   {"bench":"gemm_bf16", ..., "gflops", "speedup"}  B in bf16, against gemm_f32's time
//   {"bench":"gemv_f32"|"gemv_bf16"|"gemv_q8", "m":1, "n","k", "gbps", "of_copy", ...}
//                                                    q8: int8 W (gemv_q8.h), its bytes
//                                                    counting the scales, and "vnni"
// Weights of the decode shapes are cycled over copies whose total exceeds the caches, so
// the GB/s are those of streaming from memory, as when serving a model.
#include "engine_bench.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <cblas.h>

#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/kernels/gemm.h"
#include "tide/engine/kernels/gemv_q8.h"
#include "tide/engine/thread_pool.h"

extern char** environ;

namespace tide::bench {
namespace {

using nlohmann::json;
using engine::Trans;

struct GemmShape {
  int m, n, k;
  Trans ta, tb;
};

// Square shapes for the peak, plus the model's forward y = x·Wᵀ at prefill and batched
// decode sizes. The child process derives the same list from the same options.
std::vector<GemmShape> GemmShapes(const BenchOptions& o) {
  if (o.quick) return {{256, 256, 256, Trans::kNo, Trans::kNo}, {8, 512, 256, Trans::kNo, Trans::kYes}};
  return {{1024, 1024, 1024, Trans::kNo, Trans::kNo}, {1024, 1024, 1024, Trans::kNo, Trans::kYes},
          {1024, 1024, 1024, Trans::kYes, Trans::kNo}, {2048, 2048, 2048, Trans::kNo, Trans::kNo},
          {256, 4096, 1024, Trans::kNo, Trans::kYes},  {16, 4096, 1024, Trans::kNo, Trans::kYes}};
}

struct GemvShape {
  int n, k;
};
std::vector<GemvShape> GemvShapes(const BenchOptions& o) {
  if (o.quick) return {{1024, 1024}};
  return {{1024, 1024}, {4096, 1024}, {1024, 4096}, {4096, 4096}};
}

// Copies of one weight matrix, together larger than the last-level cache.
size_t CopiesFor(size_t bytes, const BenchOptions& o) {
  const size_t working_set = (o.quick ? size_t{32} : size_t{512}) << 20;
  return std::max<size_t>(2, (working_set + bytes - 1) / bytes);
}

// Uniform values in [-1, 1) from a xorshift generator (fast enough for 512 MiB), as f32
// or as bf16 (the upper half of the f32).
template <typename T>
std::vector<T> RandomData(size_t n, uint32_t seed) {
  std::vector<T> v(n);
  uint64_t state = 0x9E3779B97F4A7C15ull * (seed + 1);
  for (auto& x : v) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const float f = static_cast<float>(static_cast<int32_t>(state >> 32)) * 0x1p-31f;
    if constexpr (sizeof(T) == 2) {
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      x = static_cast<T>(bits >> 16);
    } else {
      x = f;
    }
  }
  return v;
}

const char* Name(Trans t) { return t == Trans::kNo ? "N" : "T"; }
std::string Key(const std::string& bench, int m, int n, int k, const char* ta, const char* tb) {
  return bench + " " + std::to_string(m) + " " + std::to_string(n) + " " + std::to_string(k) + " " + ta + tb;
}

// Runs this binary as `tide bench engine-openblas` without the two OpenBLAS variables and
// returns its JSON lines.
Result<std::vector<json>> RunOpenBlasChild(const BenchOptions& o) {
  std::error_code ec;
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec || std::filesystem::path(exe).filename() != "tide") {
    return Unavailable("OpenBLAS is timed by re-running the tide binary; this process is " + exe);
  }
  std::vector<std::string> args = {exe, "bench", "engine-openblas", "--json", "--min-seconds",
                                   std::to_string(o.min_seconds)};
  if (o.quick) args.push_back("--quick");
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    if (v.starts_with("OPENBLAS_CORETYPE=") || v.starts_with("OPENBLAS_L2_SIZE=")) continue;
    env.emplace_back(v);
  }
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  int fds[2];
  if (pipe(fds) != 0) return Internal("pipe: " + std::string(std::strerror(errno)));
  const pid_t pid = fork();
  if (pid < 0) return Internal("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execve(exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t got;
  while ((got = read(fds[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR)) {
    if (got > 0) out.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Internal("the OpenBLAS child process failed");
  std::vector<json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) return Internal("unparsable line from the OpenBLAS child: " + line);
    lines.push_back(std::move(j));
  }
  return lines;
}


}  // namespace

double GemmF32Gflops(int m, int n, int k, Trans ta, Trans tb, const BenchOptions& o) {
  const int a_cols = ta == Trans::kNo ? k : m, a_rows = ta == Trans::kNo ? m : k;
  const int b_cols = tb == Trans::kNo ? n : k, b_rows = tb == Trans::kNo ? k : n;
  const auto a = RandomData<float>(static_cast<size_t>(a_rows) * a_cols, 1);
  const auto b = RandomData<float>(static_cast<size_t>(b_rows) * b_cols, 2);
  std::vector<float> c(static_cast<size_t>(m) * n);
  const double sec = MedianSeconds(
      [&] { engine::Gemm(ta, tb, m, n, k, 1.0f, a.data(), a_cols, b.data(), b_cols, 0.0f, c.data(), n); },
      o.min_seconds);
  return 2.0 * m * n * k / sec / 1e9;
}

double CopyGbPerSecond(const BenchOptions& o) {
  const size_t bytes = (o.quick ? size_t{16} : size_t{256}) << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  engine::ThreadPool& pool = engine::ThreadPool::Default();
  const int64_t blocks = 256;
  const double s = MedianSeconds(
      [&] {
        pool.ParallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
          const size_t lo = bytes * static_cast<size_t>(b0) / blocks, hi = bytes * static_cast<size_t>(b1) / blocks;
          std::memcpy(dst.data() + lo, src.data() + lo, hi - lo);
        });
      },
      o.min_seconds);
  return 2.0 * static_cast<double>(bytes) / s / 1e9;
}


Status BenchEngineOpenBlas(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  const std::string core = openblas_get_corename();
  const int threads = openblas_get_num_threads();
  for (const GemmShape& s : GemmShapes(o)) {
    const int a_rows = s.ta == Trans::kNo ? s.m : s.k, a_cols = s.ta == Trans::kNo ? s.k : s.m;
    const int b_rows = s.tb == Trans::kNo ? s.k : s.n, b_cols = s.tb == Trans::kNo ? s.n : s.k;
    const auto a = RandomData<float>(static_cast<size_t>(a_rows) * a_cols, 1);
    const auto b = RandomData<float>(static_cast<size_t>(b_rows) * b_cols, 2);
    std::vector<float> c(static_cast<size_t>(s.m) * s.n);
    const double sec = MedianSeconds(
        [&] {
          cblas_sgemm(CblasRowMajor, s.ta == Trans::kNo ? CblasNoTrans : CblasTrans,
                      s.tb == Trans::kNo ? CblasNoTrans : CblasTrans, s.m, s.n, s.k, 1.0f, a.data(), a_cols, b.data(),
                      b_cols, 0.0f, c.data(), s.n);
        },
        o.min_seconds);
    emit({{"key", Key("gemm", s.m, s.n, s.k, Name(s.ta), Name(s.tb))},
          {"gflops", 2.0 * s.m * s.n * s.k / sec / 1e9},
          {"core", core},
          {"threads", threads}});
  }
  for (const GemvShape& s : GemvShapes(o)) {
    const size_t elems = static_cast<size_t>(s.n) * s.k;
    const size_t copies = CopiesFor(elems * sizeof(float), o);
    const auto w = RandomData<float>(elems * copies, 3);
    const auto x = RandomData<float>(static_cast<size_t>(s.k), 4);
    std::vector<float> y(static_cast<size_t>(s.n));
    size_t next = 0;
    const double sec = MedianSeconds(
        [&] {
          const float* wc = w.data() + (next++ % copies) * elems;
          cblas_sgemv(CblasRowMajor, CblasNoTrans, s.n, s.k, 1.0f, wc, s.k, x.data(), 1, 0.0f, y.data(), 1);
        },
        o.min_seconds);
    emit({{"key", Key("gemv", 1, s.n, s.k, "N", "T")}, {"gbps", elems * sizeof(float) / sec / 1e9}});
  }
  return Status::Ok();
}

Status BenchEngine(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  // OpenBLAS first, in its own process, so its threads are gone before ours run.
  json blas_by_key = json::object();
  std::string blas_core = "unavailable", blas_note;
  int blas_threads = 0;
  if (auto child = RunOpenBlasChild(o); child.ok()) {
    for (const json& j : *child) {
      blas_by_key[j["key"].get<std::string>()] = j;
      if (j.contains("core")) {
        blas_core = j["core"].get<std::string>();
        blas_threads = j["threads"].get<int>();
      }
    }
  } else {
    blas_note = child.status().ToString();
  }
  const std::string baseline = "OpenBLAS (core " + blas_core + ", " + std::to_string(blas_threads) +
                               " threads, child process without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE)";
  const std::string simd(engine::SimdLevelName(engine::DetectSimdLevel()));
  const int threads = engine::ThreadPool::Default().size();

  const double copy_gb_s = CopyGbPerSecond(o);
  emit({{"bench", "copy"}, {"gbps", copy_gb_s}, {"threads", threads}, {"counts", "bytes read + bytes written"}});

  for (const GemmShape& s : GemmShapes(o)) {
    const int a_cols = s.ta == Trans::kNo ? s.k : s.m, a_rows = s.ta == Trans::kNo ? s.m : s.k;
    const int b_cols = s.tb == Trans::kNo ? s.n : s.k, b_rows = s.tb == Trans::kNo ? s.k : s.n;
    const auto a = RandomData<float>(static_cast<size_t>(a_rows) * a_cols, 1);
    const auto b = RandomData<float>(static_cast<size_t>(b_rows) * b_cols, 2);
    std::vector<float> c(static_cast<size_t>(s.m) * s.n);
    const double sec = MedianSeconds(
        [&] {
          engine::Gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), a_cols, b.data(), b_cols, 0.0f, c.data(), s.n);
        },
        o.min_seconds);
    const double gflops = 2.0 * s.m * s.n * s.k / sec / 1e9;
    json line = {{"bench", "gemm_f32"}, {"m", s.m},   {"n", s.n},         {"k", s.k},       {"ta", Name(s.ta)},
                 {"tb", Name(s.tb)},    {"simd", simd}, {"threads", threads}, {"gflops", gflops}};
    const std::string key = Key("gemm", s.m, s.n, s.k, Name(s.ta), Name(s.tb));
    if (blas_by_key.contains(key)) {
      const double blas = blas_by_key[key]["gflops"].get<double>();
      line["openblas_gflops"] = blas;
      line["openblas_core"] = blas_core;
      line["ratio"] = gflops / blas;
      line["baseline"] = baseline + " sgemm";
    } else {
      line["openblas"] = blas_note;
    }
    emit(line);

    // The same product with B (the weights) in bf16, against the f32 time above.
    if (s.tb == Trans::kYes) {
      std::vector<uint16_t> b16(b.size());
      for (size_t i = 0; i < b.size(); ++i) {
        uint32_t bits;
        std::memcpy(&bits, &b[i], sizeof bits);
        b16[i] = static_cast<uint16_t>(bits >> 16);
      }
      const double sec16 = MedianSeconds(
          [&] {
            engine::GemmBf16(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), a_cols, b16.data(), b_cols, 0.0f, c.data(),
                             s.n);
          },
          o.min_seconds);
      emit({{"bench", "gemm_bf16"},
            {"m", s.m},
            {"n", s.n},
            {"k", s.k},
            {"ta", Name(s.ta)},
            {"tb", Name(s.tb)},
            {"simd", simd},
            {"threads", threads},
            {"gflops", 2.0 * s.m * s.n * s.k / sec16 / 1e9},
            {"speedup", sec / sec16},
            {"baseline", "Gemm (f32 B) on the same shape"}});
    }
  }

  for (const GemvShape& s : GemvShapes(o)) {
    const size_t elems = static_cast<size_t>(s.n) * s.k;
    const auto x = RandomData<float>(static_cast<size_t>(s.k), 4);
    std::vector<float> y(static_cast<size_t>(s.n));
    double f32_sec = 0;
    enum class Weights { kF32, kBf16, kQ8 };
    for (const Weights type : {Weights::kF32, Weights::kBf16, Weights::kQ8}) {
      const bool bf16 = type == Weights::kBf16, q8 = type == Weights::kQ8;
      std::vector<float> w32;
      std::vector<uint16_t> w16;
      std::vector<engine::Q8Matrix> wq;
      size_t bytes = elems * (bf16 ? 2 : 4);
      if (q8) {  // quantised once, then copied (int8 values and f32 scales)
        const auto f = RandomData<float>(elems, 3);
        wq.push_back(engine::QuantizeQ8(f.data(), s.n, s.k));
        bytes = static_cast<size_t>(wq[0].Bytes());
      }
      const size_t copies = CopiesFor(bytes, o);
      if (q8) {
        wq.assign(copies, engine::Q8Matrix(wq[0]));
      } else if (bf16) {
        w16 = RandomData<uint16_t>(elems * copies, 3);
      } else {
        w32 = RandomData<float>(elems * copies, 3);
      }
      size_t next = 0;
      const double sec = MedianSeconds(
          [&] {
            const size_t copy = next++ % copies, offset = copy * elems;
            if (q8) {
              engine::GemvQ8(wq[copy], x.data(), 1, y.data());
            } else if (bf16) {
              engine::GemmBf16(Trans::kNo, Trans::kYes, 1, s.n, s.k, 1.0f, x.data(), s.k, w16.data() + offset, s.k,
                               0.0f, y.data(), s.n);
            } else {
              engine::Gemm(Trans::kNo, Trans::kYes, 1, s.n, s.k, 1.0f, x.data(), s.k, w32.data() + offset, s.k, 0.0f,
                           y.data(), s.n);
            }
          },
          o.min_seconds);
      const double gb_s = static_cast<double>(bytes) / sec / 1e9;
      json line = {{"bench", q8 ? "gemv_q8" : bf16 ? "gemv_bf16" : "gemv_f32"},
                   {"m", 1},
                   {"n", s.n},
                   {"k", s.k},
                   {"us", sec * 1e6},
                   {"gbps", gb_s},
                   {"gflops", 2.0 * static_cast<double>(elems) / sec / 1e9},
                   {"of_copy", gb_s / copy_gb_s},
                   {"weights_mb", static_cast<double>(bytes * copies) / (1 << 20)},
                   {"simd", simd},
                   {"threads", threads}};
      const std::string key = Key("gemv", 1, s.n, s.k, "N", "T");
      if (q8) line["vnni"] = engine::GemvQ8UsesVnni(engine::DetectSimdLevel());
      if (bf16 || q8) {
        line["speedup"] = f32_sec / sec;
        line["baseline"] = "the f32 GEMV on the same shape";
      } else if (blas_by_key.contains(key)) {
        f32_sec = sec;
        const double blas = blas_by_key[key]["gbps"].get<double>();
        line["openblas_gbps"] = blas;
        line["openblas_core"] = blas_core;
        line["ratio"] = gb_s / blas;
        line["baseline"] = baseline + " sgemv";
      } else {
        f32_sec = sec;
        line["openblas"] = blas_note;
      }
      emit(line);
    }
  }
  return Status::Ok();
}

}  // namespace tide::bench
