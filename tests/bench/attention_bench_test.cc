#include <gtest/gtest.h>
#include <gtest/gtest.h>

#include <vector>

#include "tide/bench/bench.h"

namespace tide::bench {
namespace {

TEST(AttentionBenchTest, TimesSharedAgainstOwnBlocksAndCountsTileReads) {
  std::vector<nlohmann::json> lines;
  BenchOptions o;
  o.quick = true;
  o.min_seconds = 0.01;
  ASSERT_TRUE(RunBench("attention", o, [&](const nlohmann::json& j) { lines.push_back(j); }).ok());
  ASSERT_EQ(lines.size(), 1u);
  const auto& j = lines[0];
  EXPECT_EQ(j["bench"], "paged_attention_decode");
  EXPECT_GT(j["ms_shared_blocks"].get<double>(), 0);
  EXPECT_GT(j["ms_own_blocks"].get<double>(), 0);
  EXPECT_NEAR(j["speedup"].get<double>(), j["ms_own_blocks"].get<double>() / j["ms_shared_blocks"].get<double>(),
              1e-9);
  // Quick: 8 sequences behind a 256-token prompt (4 whole tiles), context 273 (5 tiles),
  // 2 kv heads. Shared: one unit reads the 4 prompt tiles once per kv head, each sequence
  // its last tile; own blocks would read 8 * 5 * 2.
  EXPECT_EQ(j["shared_tile_uses"].get<int64_t>(), 8 * 4 * 2);
  EXPECT_EQ(j["key_tiles_read"].get<int64_t>(), 4 * 2 + 8 * 1 * 2);
}

}  // namespace
}  // namespace tide::bench
