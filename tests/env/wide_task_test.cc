#include "tide/env/wide_task.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(WideTaskTest, FormatThenParseRoundTrips) {
  std::vector<std::string> entities = {"Orvana Dynamics", "Belmi Labs", "Tessaro Works"};
  std::vector<std::string> columns = {"headquarters", "employees"};
  std::string text = FormatWideTask(entities, columns);
  EXPECT_NE(text.find("Columns (2):\n- headquarters: string"), std::string::npos) << text;
  EXPECT_NE(text.find("Entities (3):\n1. Orvana Dynamics\n2. Belmi Labs\n3. Tessaro Works\n"), std::string::npos);
  EXPECT_NE(text.find("```json"), std::string::npos);
  Result<WideTaskSpec> spec = ParseWideTask(text);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->entities, entities);
  EXPECT_EQ(spec->columns, columns);
}

TEST(WideTaskTest, SubtaskFormIsCompactAndParses) {
  const std::vector<std::string> entities = {"Orvana Dynamics", "Belmi Labs"}, columns = {"founder", "colour"};
  const std::string sub = FormatWideSubtask(entities, columns);
  EXPECT_EQ(sub.rfind("Columns (2):\n- founder: string", 0), 0u) << sub;
  EXPECT_NE(sub.find("- colour\n\nEntities (2):\n1. Orvana Dynamics\n2. Belmi Labs\n\nAnswer with a ```json array"),
            std::string::npos)
      << sub;
  EXPECT_LT(sub.size() + 150, FormatWideTask(entities, columns).size());
  Result<WideTaskSpec> spec = ParseWideTask(sub);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->entities, entities);
  EXPECT_EQ(spec->columns, columns);
}

TEST(WideTaskTest, ParsesInsideOtherTextAndUnknownColumns) {
  std::string text = "Hello.\r\n\n" + FormatWideTask({"A Labs"}, {"colour"}) + "\n\nBe quick.";
  Result<WideTaskSpec> spec = ParseWideTask(text);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->entities, std::vector<std::string>{"A Labs"});
  EXPECT_EQ(spec->columns, std::vector<std::string>{"colour"});
}

TEST(WideTaskTest, ErrorsNameWhatIsWrong) {
  Result<WideTaskSpec> none = ParseWideTask("no task here");
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("Columns"), std::string::npos);
  Result<WideTaskSpec> short_list = ParseWideTask("Columns (1):\n- founder\n\nEntities (3):\n1. A\n2. B\n");
  EXPECT_EQ(short_list.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(short_list.status().message().find("3. "), std::string::npos) << short_list.status().message();
  EXPECT_FALSE(ParseWideTask("Columns (1):\n- founder\n").ok());
  EXPECT_FALSE(ParseWideTask("Columns (2):\n- founder\nEntities (1):\n1. A\n").ok());
}

}  // namespace
}  // namespace tide::env
