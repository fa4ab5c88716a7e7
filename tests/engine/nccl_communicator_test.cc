// The `nccl` EP backend (dist/nccl_communicator.h).
//   CudaNcclRendezvousTest: the TCP rendezvous over loopback hands the same 128-byte id to
//     every rank, and wrong ports, timeouts and wrong hellos fail with clear errors on both
//     sides. Plain sockets: runs in every build, with or without a GPU.
//   CudaNcclCommunicatorTest: the factory refuses bad options and says why it cannot run
//     (no NCCL in the build, no device); on a GPU a one-rank NCCL communicator's
//     collectives equal the local backend's (bit for bit) and reject bad calls, and the
//     expert-parallel model forward over it equals the local backend's and the single-rank
//     forward (1e-6 relative, f32). With two or more GPUs, ranks as threads (rank r on
//     device r) run the EP forward over NCCL; it skips on one GPU (NCCL cannot put two
//     ranks on one device). GPU tests skip with the reason when they cannot run.
#include "tide/engine/dist/nccl_communicator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if TIDE_HAS_CUDA
#include <cuda_runtime_api.h>
#endif

#include "model_test_util.h"
#include "tide/engine/cuda/cuda_runtime.h"
#include "tide/engine/dist/expert_parallel.h"
#include "tide/engine/model_weights.h"

namespace tide::engine::dist {
namespace {

using std::chrono::milliseconds;

NcclUniqueIdBytes RandomId(unsigned seed) {
  std::mt19937 rng(seed);
  NcclUniqueIdBytes id;
  for (uint8_t& b : id) b = static_cast<uint8_t>(rng());
  return id;
}

// A loopback port nothing listens on (bound, then released).
int FreePort() {
  auto server = RendezvousServer::Listen("127.0.0.1", 0);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? server->port() : 1;
}

TEST(CudaNcclRendezvousTest, HandsTheIdToEveryRank) {
  auto server = RendezvousServer::Listen("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_GT(server->port(), 0);
  const NcclUniqueIdBytes id = RandomId(1);
  constexpr int kSize = 4;
  std::vector<std::optional<Result<NcclUniqueIdBytes>>> got(kSize);
  std::vector<std::thread> ranks;
  for (int r = kSize - 1; r >= 1; --r) {  // any order
    ranks.emplace_back(
        [&, r] { got[r].emplace(RendezvousFetch("127.0.0.1", server->port(), r, kSize, milliseconds(10000))); });
  }
  const Status served = server->Serve(id, kSize, milliseconds(10000));
  for (std::thread& t : ranks) t.join();
  ASSERT_TRUE(served.ok()) << served.ToString();
  for (int r = 1; r < kSize; ++r) {
    ASSERT_TRUE(got[r]->ok()) << "rank " << r << ": " << got[r]->status().ToString();
    EXPECT_EQ(**got[r], id) << "rank " << r;
  }
  // One rank needs no one.
  EXPECT_TRUE(server->Serve(id, 1, milliseconds(10)).ok());
}

TEST(CudaNcclRendezvousTest, ClientStartedFirstWaitsForRankZero) {
  const int port = FreePort();
  const NcclUniqueIdBytes id = RandomId(2);
  std::optional<Result<NcclUniqueIdBytes>> got;
  std::thread rank1([&] { got.emplace(RendezvousFetch("127.0.0.1", port, 1, 2, milliseconds(10000))); });
  std::this_thread::sleep_for(milliseconds(200));  // rank 1 is refused and retries meanwhile
  auto server = RendezvousServer::Listen("127.0.0.1", port);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const Status served = server->Serve(id, 2, milliseconds(10000));
  rank1.join();
  ASSERT_TRUE(served.ok()) << served.ToString();
  ASSERT_TRUE(got->ok()) << got->status().ToString();
  EXPECT_EQ(**got, id);
}

TEST(CudaNcclRendezvousTest, WrongPortTimesOutSayingWhatFailed) {
  const int port = FreePort();
  const auto start = std::chrono::steady_clock::now();
  auto got = RendezvousFetch("127.0.0.1", port, 1, 2, milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded) << got.status().ToString();
  const std::string& m = got.status().message();
  EXPECT_NE(m.find("could not connect to rank 0 at 127.0.0.1:" + std::to_string(port)), std::string::npos) << m;
  EXPECT_NE(m.find("within 300 ms"), std::string::npos) << m;
  EXPECT_NE(m.find("refused"), std::string::npos) << m;
  EXPECT_LT(took, milliseconds(3000));
}

TEST(CudaNcclRendezvousTest, ServerTimesOutNamingTheMissingRanks) {
  auto server = RendezvousServer::Listen("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::optional<Result<NcclUniqueIdBytes>> got;
  std::thread rank2([&] { got.emplace(RendezvousFetch("127.0.0.1", server->port(), 2, 4, milliseconds(5000))); });
  const Status served = server->Serve(RandomId(3), 4, milliseconds(400));
  rank2.join();
  EXPECT_EQ(served.code(), StatusCode::kDeadlineExceeded) << served.ToString();
  EXPECT_NE(served.message().find("1 of 3 ranks checked in within 400 ms, missing ranks 1, 3"), std::string::npos)
      << served.ToString();
  // The rank that did check in is told instead of waiting for its own timeout.
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->status().code(), StatusCode::kUnavailable) << got->status().ToString();
  EXPECT_NE(got->status().message().find("rank 0 gave up"), std::string::npos) << got->status().ToString();
}

TEST(CudaNcclRendezvousTest, ClientTimesOutWhenRankZeroNeverAnswers) {
  auto server = RendezvousServer::Listen("127.0.0.1", 0);  // listens, never serves
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto got = RendezvousFetch("127.0.0.1", server->port(), 1, 2, milliseconds(300));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded) << got.status().ToString();
  EXPECT_NE(got.status().message().find("did not send the NCCL id to rank 1 within 300 ms"), std::string::npos)
      << got.status().ToString();
}

TEST(CudaNcclRendezvousTest, WrongHellosFailOnBothSides) {
  struct Case {
    int rank, size;
    const char* server_says;
    const char* client_says;
  } cases[] = {{1, 3, "rank 1 says the group has 3 ranks, rank 0 has 2", "group size differs"}};
  for (const Case& c : cases) {
    auto server = RendezvousServer::Listen("127.0.0.1", 0);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    std::optional<Result<NcclUniqueIdBytes>> got;
    std::thread client(
        [&] { got.emplace(RendezvousFetch("127.0.0.1", server->port(), c.rank, c.size, milliseconds(5000))); });
    const Status served = server->Serve(RandomId(4), 2, milliseconds(5000));
    client.join();
    EXPECT_EQ(served.code(), StatusCode::kInvalidArgument) << served.ToString();
    EXPECT_NE(served.message().find(c.server_says), std::string::npos) << served.ToString();
    ASSERT_FALSE(got->ok());
    EXPECT_EQ(got->status().code(), StatusCode::kInvalidArgument) << got->status().ToString();
    EXPECT_NE(got->status().message().find(c.client_says), std::string::npos) << got->status().ToString();
  }
  // A rank that checks in twice.
  auto server = RendezvousServer::Listen("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  std::optional<Result<NcclUniqueIdBytes>> a, b;
  std::thread ta([&] { a.emplace(RendezvousFetch("127.0.0.1", server->port(), 1, 3, milliseconds(5000))); });
  std::thread tb([&] { b.emplace(RendezvousFetch("127.0.0.1", server->port(), 1, 3, milliseconds(5000))); });
  const Status served = server->Serve(RandomId(5), 3, milliseconds(5000));
  ta.join();
  tb.join();
  EXPECT_EQ(served.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(served.message().find("rank 1 checked in twice"), std::string::npos) << served.ToString();
  EXPECT_FALSE(a->ok());
  EXPECT_FALSE(b->ok());
}

TEST(CudaNcclRendezvousTest, BadArgumentsAreRefused) {
  EXPECT_EQ(RendezvousServer::Listen("127.0.0.1", 70000).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RendezvousServer::Listen("127.0.0.1", -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RendezvousFetch("127.0.0.1", 0, 1, 2, milliseconds(10)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RendezvousFetch("127.0.0.1", 29500, 0, 2, milliseconds(10)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RendezvousFetch("127.0.0.1", 29500, 2, 2, milliseconds(10)).status().code(), StatusCode::kInvalidArgument);
  auto server = RendezvousServer::Listen("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(server->Serve(RandomId(6), 0, milliseconds(10)).code(), StatusCode::kInvalidArgument);
  // The port is taken while the server holds it.
  auto second = RendezvousServer::Listen("127.0.0.1", server->port());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
}

TEST(CudaNcclCommunicatorTest, FactoryRefusesBadOptionsOrSaysWhyItCannotRun) {
  NcclCommunicatorOptions bad;
  bad.rank = 2;
  bad.size = 2;
  auto c = CreateNcclCommunicator(bad);
  ASSERT_FALSE(c.ok());
  if (!NcclCompiledIn()) {
    EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(c.status().message().find("without CUDA or without NCCL"), std::string::npos) << c.status().ToString();
    return;
  }
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
  NcclCommunicatorOptions no_such_device;
  no_such_device.device = 1000;
  c = CreateNcclCommunicator(no_such_device);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition) << c.status().ToString();
}

// Skips the calling test unless a one-rank NCCL communicator can be made here.
#define TIDE_NCCL_OR_SKIP(var)                                                                   \
  if (!NcclCompiledIn()) GTEST_SKIP() << "built without NCCL (TIDE_CUDA=OFF or NCCL not found)"; \
  if (std::string why; !CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;    \
  auto var##_made = CreateNcclCommunicator(NcclCommunicatorOptions{});                           \
  ASSERT_TRUE(var##_made.ok()) << var##_made.status().ToString();                                \
  std::unique_ptr<Communicator> var = std::move(var##_made).value()

TEST(CudaNcclCommunicatorTest, OneRankCollectivesEqualTheLocalBackend) {
  TIDE_NCCL_OR_SKIP(nccl);
  std::printf("CUDA device: %s\n", CudaDeviceName().c_str());
  auto group = LocalCommunicatorGroup::Create(1);
  ASSERT_TRUE(group.ok());
  Communicator* local = group->communicator(0);
  EXPECT_EQ(nccl->rank(), 0);
  EXPECT_EQ(nccl->size(), 1);
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  // Rows of growing and shrinking sizes (the staging buffers grow), zero rows included.
  for (int64_t rows : {5, 0, 1, 300, 17, 4096, 3}) {
    for (int64_t width : {1, 7, 64}) {
      std::vector<float> f(static_cast<size_t>(rows * width));
      std::vector<int32_t> i(f.size());
      for (float& x : f) x = nd(rng);
      for (int32_t& x : i) x = static_cast<int32_t>(rng());
      const std::vector<int64_t> counts = {rows};
      std::vector<float> fn(3, -1.f), fl;
      std::vector<int32_t> in, il;
      std::vector<int64_t> rn, rl;
      ASSERT_TRUE(nccl->AllToAllV(std::span<const float>(f), counts, width, &fn, &rn).ok());
      ASSERT_TRUE(local->AllToAllV(std::span<const float>(f), counts, width, &fl, &rl).ok());
      EXPECT_EQ(fn, fl) << rows << " rows of " << width;
      EXPECT_EQ(rn, rl);
      ASSERT_TRUE(nccl->AllToAllV(std::span<const int32_t>(i), counts, width, &in, &rn).ok());
      ASSERT_TRUE(local->AllToAllV(std::span<const int32_t>(i), counts, width, &il, &rl).ok());
      EXPECT_EQ(in, il);
      EXPECT_EQ(in, i);
    }
  }
  std::vector<int64_t> one = {static_cast<int64_t>(rng())}, got_n(1, 0), got_l(1, 0);
  ASSERT_TRUE(nccl->AllToAll(one, got_n).ok());
  ASSERT_TRUE(local->AllToAll(one, got_l).ok());
  EXPECT_EQ(got_n, got_l);
  EXPECT_TRUE(nccl->Barrier().ok());
  // Bad calls fail (as on the local backend) and the communicator goes on.
  const float x[2] = {1.f, 2.f};
  std::vector<float> out;
  std::vector<int64_t> rows;
  const std::vector<int64_t> two_ranks = {1, 1};
  EXPECT_EQ(nccl->AllToAllV(std::span<const float>(x, 2), two_ranks, 1, &out, &rows).code(),
            StatusCode::kInvalidArgument);
  const std::vector<int64_t> send = {2}, expect = {1};
  float y[2];
  const Status raw = nccl->AllToAllVRaw(CommDataType::kFloat32, x, send, y, expect);
  EXPECT_EQ(raw.code(), StatusCode::kInvalidArgument) << raw.ToString();
  EXPECT_NE(raw.message().find("rank 0 sends 2 elements to rank 0, which expects 1"), std::string::npos)
      << raw.ToString();
  ASSERT_TRUE(nccl->AllToAllV(std::span<const float>(x, 2), send, 1, &out, &rows).ok());
  EXPECT_EQ(out, std::vector<float>(x, x + 2));
  // Round-trip time of one staged AllToAllV (counts round, table rounds, H2D, NCCL, D2H),
  // for bench/RESULTS.md; not a benchmark of NCCL itself.
  for (int64_t n_rows : {int64_t{64}, int64_t{4096}}) {
    std::vector<float> rows_in(static_cast<size_t>(n_rows * 1024), 1.f), rows_out;
    const std::vector<int64_t> c1 = {n_rows};
    ASSERT_TRUE(nccl->AllToAllV(std::span<const float>(rows_in), c1, 1024, &rows_out, &rows).ok());
    constexpr int kIters = 50;
    const auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < kIters; ++it) {
      ASSERT_TRUE(nccl->AllToAllV(std::span<const float>(rows_in), c1, 1024, &rows_out, &rows).ok());
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / kIters;
    std::printf("[nccl] one-rank AllToAllV of %lld rows x 1024 f32 (%.1f MiB): %.1f us per call\n",
                static_cast<long long>(n_rows), n_rows * 1024 * 4 / 1048576.0, us);
  }
  // Abort: every later call returns Aborted.
  nccl->Abort();
  EXPECT_EQ(nccl->Barrier().code(), StatusCode::kAborted);
  EXPECT_EQ(nccl->AllToAll(one, got_n).code(), StatusCode::kAborted);
}

// Eight experts over three layers; three experts a token with the extensions on.
Model TinyModel(bool extended, unsigned seed) {
  return testing::TinyRandomModel(testing::TinyMoeConfig(extended, {.layers = 3, .experts = 8, .extended_top_k = 3}),
                                  seed);
}

std::vector<int32_t> Tokens(int n, std::mt19937& rng) {
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % 50);
  return t;
}

// max |a - ref| / max(1, |ref|) over the elements.
double MaxRelErr(const std::vector<float>& a, const std::vector<float>& ref) {
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - ref[i]);
    worst = std::max(worst, d / std::max(1.0, std::fabs(static_cast<double>(ref[i]))));
  }
  return worst;
}

TEST(CudaNcclCommunicatorTest, ExpertParallelForwardEqualsTheLocalBackend) {
  TIDE_NCCL_OR_SKIP(nccl);
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (bool extended : {false, true}) {
    Model model = TinyModel(extended, rng());
    for (int n : {1, 3, 13, 40}) {
      const std::vector<int32_t> tokens = Tokens(n, rng);
      auto single = model.Forward(tokens);
      auto local = ForwardExpertParallel(model, tokens, 1);
      RankExpertLoad load;
      auto over_nccl = ForwardExpertParallelRank(model, tokens, nccl.get(), &load);
      ASSERT_TRUE(single.ok() && local.ok());
      ASSERT_TRUE(over_nccl.ok()) << over_nccl.status().ToString();
      ASSERT_EQ(over_nccl->shape, local->shape);
      const double vs_local = MaxRelErr(over_nccl->data, local->data);
      const double vs_single = MaxRelErr(over_nccl->data, single->data);
      std::printf("[parity] NcclExpertParallel f32 ep=1 %s tokens=%d rel_err=%.3g\n", extended ? "sigmoid" : "softmax",
                  n, std::max(vs_local, vs_single));
      EXPECT_LE(vs_local, 1e-6) << "tokens " << n;
      EXPECT_LE(vs_single, 1e-6) << "tokens " << n;
      // Every routed row stayed on the one rank.
      for (size_t l = 0; l < load.sent.size(); ++l) {
        if (!load.sent[l].empty()) {
          EXPECT_EQ(load.sent[l][0], static_cast<int64_t>(n) * model.config().num_experts_per_tok);
        }
      }
    }
  }
}

// Ranks as threads of this process, rank r on device r (NCCL needs one GPU per rank).
TEST(CudaNcclCommunicatorTest, MultiGpuExpertParallelForwardEqualsSingleRank) {
  if (!NcclCompiledIn()) GTEST_SKIP() << "built without NCCL (TIDE_CUDA=OFF or NCCL not found)";
  if (std::string why; !CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  int devices = 0;
#if TIDE_HAS_CUDA
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
#endif
  const int ep = devices >= 8 ? 8 : devices >= 4 ? 4 : devices >= 2 ? 2 : 1;
  if (ep < 2) GTEST_SKIP() << "needs two or more GPUs (found " << devices << "): NCCL puts one rank per GPU";
  Model model = TinyModel(true, 21);
  std::mt19937 rng(22);
  const std::vector<int32_t> tokens = Tokens(29, rng);
  auto single = model.Forward(tokens);
  ASSERT_TRUE(single.ok());
  const int port = FreePort();
  std::vector<std::optional<Result<Tensor>>> logits(ep);
  std::vector<std::thread> ranks;
  for (int r = 0; r < ep; ++r) {
    ranks.emplace_back([&, r] {
      NcclCommunicatorOptions o;
      o.rank = r;
      o.size = ep;
      o.port = port;
      o.connect_timeout = milliseconds(60000);
      auto comm = CreateNcclCommunicator(o);
      if (!comm.ok()) {
        logits[r].emplace(comm.status());
        return;
      }
      logits[r].emplace(ForwardExpertParallelRank(model, tokens, comm->get()));
    });
  }
  for (std::thread& t : ranks) t.join();
  for (int r = 0; r < ep; ++r) {
    ASSERT_TRUE(logits[r]->ok()) << "rank " << r << ": " << logits[r]->status().ToString();
    const double err = MaxRelErr((*logits[r])->data, single->data);
    std::printf("[parity] NcclExpertParallel f32 ep=%d rank=%d rel_err=%.3g\n", ep, r, err);
    EXPECT_LE(err, 1e-6) << "rank " << r;
  }
}

}  // namespace
}  // namespace tide::engine::dist
