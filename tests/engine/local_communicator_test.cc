// The local communicator backend (dist/communicator.h): all-to-all of float rows and int32
// metadata with uneven sizes (zero rows included) over many rounds, for groups of 1, 2 and
// 4 ranks running as threads; the barrier; bad arguments and mismatched collectives
// failing on every rank without a hang; Abort.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "tide/engine/dist/communicator.h"

namespace tide::engine::dist {
namespace {

// Runs fn(rank, comm) on one thread per rank and waits for all.
void RunRanks(LocalCommunicatorGroup& group, const std::function<void(int, Communicator*)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < group.size(); ++r) threads.emplace_back(fn, r, group.communicator(r));
  for (std::thread& t : threads) t.join();
}

// Rows rank `src` sends rank `dst` in round `round`: uneven, often zero.
int64_t Rows(int round, int src, int dst) { return (round * 3 + src * 5 + dst * 7) % 4; }

float Value(int round, int src, int dst, int64_t row, int col) {
  return static_cast<float>(round * 100000 + src * 10000 + dst * 1000 + row * 10 + col);
}

TEST(LocalCommunicatorTest, CreateRejectsEmptyGroup) {
  EXPECT_EQ(LocalCommunicatorGroup::Create(0).status().code(), StatusCode::kInvalidArgument);
  auto one = LocalCommunicatorGroup::Create(1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->communicator(0)->size(), 1);
  EXPECT_EQ(one->communicator(0)->rank(), 0);
}

class LocalCommunicatorSizeTest : public ::testing::TestWithParam<int> {};

TEST_P(LocalCommunicatorSizeTest, AllToAllVUnevenRowsOverManyRounds) {
  const int n = GetParam(), width = 3, rounds = 25;
  auto group = LocalCommunicatorGroup::Create(n);
  ASSERT_TRUE(group.ok());
  std::atomic<int> failures{0};
  RunRanks(*group, [&](int rank, Communicator* comm) {
    for (int round = 0; round < rounds; ++round) {
      std::vector<float> send;
      std::vector<int32_t> meta;
      std::vector<int64_t> send_rows(n);
      for (int d = 0; d < n; ++d) {
        send_rows[d] = Rows(round, rank, d);
        for (int64_t i = 0; i < send_rows[d]; ++i) {
          for (int col = 0; col < width; ++col) send.push_back(Value(round, rank, d, i, col));
          meta.push_back(rank * 100 + d * 10 + static_cast<int32_t>(i));
        }
      }
      std::vector<float> recv;
      std::vector<int32_t> recv_meta;
      std::vector<int64_t> recv_rows, meta_rows;
      if (!comm->AllToAllV(std::span<const float>(send), send_rows, width, &recv, &recv_rows).ok() ||
          !comm->AllToAllV(std::span<const int32_t>(meta), send_rows, 1, &recv_meta, &meta_rows).ok()) {
        ++failures;
        return;
      }
      size_t at = 0, meta_at = 0;
      bool good = recv_rows == meta_rows && static_cast<int>(recv_rows.size()) == n;
      for (int s = 0; good && s < n; ++s) {
        good = recv_rows[s] == Rows(round, s, rank);
        for (int64_t i = 0; good && i < recv_rows[s]; ++i) {
          for (int col = 0; col < width; ++col) good = good && recv[at++] == Value(round, s, rank, i, col);
          good = good && recv_meta[meta_at++] == s * 100 + rank * 10 + static_cast<int32_t>(i);
        }
      }
      good = good && at == recv.size() && meta_at == recv_meta.size();
      if (!good) ++failures;
    }
  });
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(LocalCommunicatorSizeTest, AllToAllAndBarrier) {
  const int n = GetParam();
  auto group = LocalCommunicatorGroup::Create(n);
  ASSERT_TRUE(group.ok());
  std::atomic<int> arrived{0}, failures{0};
  RunRanks(*group, [&](int rank, Communicator* comm) {
    for (int round = 0; round < 10; ++round) {
      std::vector<int64_t> send(n), recv(n);
      for (int d = 0; d < n; ++d) send[d] = round * 100 + rank * 10 + d;
      if (!comm->AllToAll(send, recv).ok()) ++failures;
      for (int s = 0; s < n; ++s) {
        if (recv[s] != round * 100 + s * 10 + rank) ++failures;
      }
      ++arrived;
      if (!comm->Barrier().ok()) ++failures;
      if (arrived.load() < (round + 1) * n) ++failures;  // everyone got here before the barrier let go
      if (!comm->Barrier().ok()) ++failures;
    }
  });
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Sizes, LocalCommunicatorSizeTest, ::testing::Values(1, 2, 4));

TEST(LocalCommunicatorTest, BadArgumentsFailOnEveryRankAndTheGroupGoesOn) {
  auto group = LocalCommunicatorGroup::Create(3);
  ASSERT_TRUE(group.ok());
  std::vector<Status> first(3), second(3);
  RunRanks(*group, [&](int rank, Communicator* comm) {
    const std::vector<float> send(3, 1.f);
    std::vector<float> recv;
    std::vector<int64_t> recv_rows;
    // Rank 1 claims more rows than it passes.
    const std::vector<int64_t> rows = rank == 1 ? std::vector<int64_t>{1, 1, 5} : std::vector<int64_t>{1, 1, 1};
    first[rank] = comm->AllToAllV(std::span<const float>(send), rows, 1, &recv, &recv_rows);
    second[rank] = comm->AllToAllV(std::span<const float>(send), std::vector<int64_t>{1, 1, 1}, 1, &recv, &recv_rows);
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(first[r].code(), StatusCode::kInvalidArgument) << r;
    EXPECT_TRUE(second[r].ok()) << second[r].ToString();
  }
}

TEST(LocalCommunicatorTest, RawCountsThatDisagreeFailOnEveryRank) {
  auto group = LocalCommunicatorGroup::Create(2);
  ASSERT_TRUE(group.ok());
  std::vector<Status> got(2);
  RunRanks(*group, [&](int rank, Communicator* comm) {
    const std::vector<int32_t> send(4, 7);
    std::vector<int32_t> recv(8);
    const std::vector<int64_t> send_counts = {2, 2};
    // Rank 0 expects 3 elements from rank 1, which sends 2.
    const std::vector<int64_t> recv_counts = rank == 0 ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{2, 2};
    got[rank] = comm->AllToAllVRaw(CommDataType::kInt32, send.data(), send_counts, recv.data(), recv_counts);
  });
  EXPECT_EQ(got[0].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(got[1].code(), StatusCode::kInvalidArgument);
}

TEST(LocalCommunicatorTest, MismatchedCollectivesFailOnEveryRank) {
  auto group = LocalCommunicatorGroup::Create(2);
  ASSERT_TRUE(group.ok());
  std::vector<Status> got(2), after(2);
  RunRanks(*group, [&](int rank, Communicator* comm) {
    if (rank == 0) {
      got[rank] = comm->Barrier();
    } else {
      std::vector<int64_t> send(2, 1), recv(2);
      got[rank] = comm->AllToAll(send, recv);
    }
    after[rank] = comm->Barrier();
  });
  EXPECT_EQ(got[0].code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(got[1].code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(after[0].ok() && after[1].ok());
}

TEST(LocalCommunicatorTest, AbortReleasesWaitingRanks) {
  auto group = LocalCommunicatorGroup::Create(3);
  ASSERT_TRUE(group.ok());
  std::vector<Status> got(3);
  RunRanks(*group, [&](int rank, Communicator* comm) {
    if (rank == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      comm->Abort();  // gives up instead of joining the barrier
      got[rank] = comm->Barrier();
      return;
    }
    got[rank] = comm->Barrier();
  });
  for (int r = 0; r < 3; ++r) EXPECT_EQ(got[r].code(), StatusCode::kAborted) << r;
  group->Abort();  // idempotent
  std::vector<int64_t> send(3), recv(3);
  EXPECT_EQ(group->communicator(0)->AllToAll(send, recv).code(), StatusCode::kAborted);
}

}  // namespace
}  // namespace tide::engine::dist
