#include "tide/env/research_schema.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(ResearchSchemaTest, AttributesHaveOneOfEachType) {
  const std::vector<AttributeInfo>& a = ResearchAttributes();
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(FindResearchAttribute("employees")->type, CellType::kInteger);
  EXPECT_EQ(FindResearchAttribute("revenue")->type, CellType::kNumber);
  EXPECT_EQ(FindResearchAttribute("founded")->type, CellType::kDate);
  EXPECT_EQ(FindResearchAttribute("sector")->type, CellType::kString);
  EXPECT_EQ(FindResearchAttribute("colour"), nullptr);
  EXPECT_EQ(ResearchAttributeIndex("headquarters"), 0);
  EXPECT_EQ(ResearchAttributeIndex("colour"), -1);
  EXPECT_GE(ResearchSectors().size(), 10u);
}

}  // namespace
}  // namespace tide::env
