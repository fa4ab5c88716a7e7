#include "tide/env/world.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(WorldTest, ResearchIsRegistered) {
  std::vector<const World*> worlds = Worlds();
  ASSERT_FALSE(worlds.empty());
  Result<const World*> w = FindWorld("research");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->name(), "research");
  EXPECT_FALSE((*w)->description().empty());
  EXPECT_EQ((*w)->task_families().front(), "wide");
}

TEST(WorldTest, ComputeIsRegistered) {
  Result<const World*> w = FindWorld("compute");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->task_families(), std::vector<std::string>{"chain"});
  TaskParams p;
  p.items = 3;
  Result<std::unique_ptr<Episode>> e = (*w)->Reset(p);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->world(), "compute");
}

TEST(WorldTest, UnknownWorldIsNotFoundAndNamesIt) {
  Result<const World*> w = FindWorld("x");
  EXPECT_EQ(w.status().code(), StatusCode::kNotFound);
  std::string known;
  for (const World* world : Worlds()) known += (known.empty() ? "" : ", ") + world->name();
  EXPECT_EQ(w.status().message(), "unknown world \"x\" (known: " + known + ")");
  EXPECT_EQ(w.status().message().rfind("unknown world \"x\" (known: research, ", 0), 0u);
}

}  // namespace
}  // namespace tide::env
