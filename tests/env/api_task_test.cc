#include "tide/env/api_task.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

using nlohmann::json;

ApiStep Transition() {
  ApiStep s;
  s.kind = ApiStepKind::kTransition;
  s.noun = "order";
  s.owner = "customer";
  s.owner_name = "Ana \"Nan\" Silva";
  s.status = "pending";
  s.verbs = {"cancel", "refund"};
  s.above_field = "amount";
  s.above = 250;
  return s;
}

ApiStep Update() {
  ApiStep s;
  s.kind = ApiStepKind::kUpdate;
  s.noun = "ticket";
  s.owner = "user";
  s.owner_name = "Bo Chen";
  s.status = "open";
  s.field = "priority";
  s.value = "high";
  return s;
}

ApiStep Create() {
  ApiStep s;
  s.kind = ApiStepKind::kCreate;
  s.noun = "order";
  s.owner = "customer";
  s.owner_name = "Ana Silva";
  s.fields = {{"amount", 120.5}, {"currency", "EUR"}, {"notes", "leave it. at the door, \"please\""}};
  return s;
}

TEST(ApiTaskTest, StepSentencesReadNaturally) {
  EXPECT_EQ(ApiStepText(Transition()),
            "Cancel every pending order of customer \"Ana \\\"Nan\\\" Silva\" whose amount is above 250, then refund each "
            "of them.");
  EXPECT_EQ(ApiStepText(Update()), "Set the priority of every open ticket of user \"Bo Chen\" to \"high\".");
  ApiStep one = Transition();
  one.verbs = {"cancel"};
  one.above_field.clear();
  EXPECT_EQ(ApiStepText(one), "Cancel every pending order of customer \"Ana \\\"Nan\\\" Silva\".");
  EXPECT_EQ(ApiStepText(Create()).rfind("Create an order for customer \"Ana Silva\" with these fields: {", 0), 0u);
}

TEST(ApiTaskTest, StepsRoundTrip) {
  ApiStep number_update = Update();
  number_update.field = "sla_hours";
  number_update.value = 48;
  ApiStep bool_update = Update();
  bool_update.field = "telehealth";
  bool_update.value = false;
  for (const ApiStep& s : {Transition(), Update(), Create(), number_update, bool_update}) {
    Result<ApiStep> back = ParseApiStep(ApiStepText(s));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == s) << ApiStepText(s);
  }
}

TEST(ApiTaskTest, TaskRoundTrip) {
  ApiTaskSpec t{"an online shop", {Transition(), Update(), Create()}, {"delete_order", "ship_order"}};
  const std::string text = FormatApiTask(t);
  EXPECT_NE(text.find("API goal (3 steps):\n1. Cancel"), std::string::npos);
  EXPECT_NE(text.find("- Never call delete_order.\n"), std::string::npos);
  Result<ApiTaskSpec> back = ParseApiTask(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->description, "an online shop");
  EXPECT_EQ(back->forbidden_tools, t.forbidden_tools);
  ASSERT_EQ(back->steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(back->steps[i] == t.steps[i]) << i;
  ApiTaskSpec single{"a clinic network", {Update()}, {}};
  EXPECT_NE(FormatApiTask(single).find("API goal (1 step):"), std::string::npos);
  EXPECT_TRUE(ParseApiTask(FormatApiTask(single)).ok());
}

TEST(ApiTaskTest, MalformedTextIsAClearError) {
  EXPECT_EQ(ParseApiTask("What is the weather?").status().code(), StatusCode::kInvalidArgument);
  Result<ApiTaskSpec> short_list = ParseApiTask("API goal (2 steps):\n1. Set the priority of every open ticket of user \"B\" to 1.\n");
  ASSERT_FALSE(short_list.ok());
  EXPECT_NE(short_list.status().message().find("promises 2 steps"), std::string::npos) << short_list.status().message();
  for (const char* bad :
       {"cancel every pending order of customer \"A\".", "Cancel every pending order of customer Ana.",
        "Cancel every pending order of customer \"A\" whose amount is above 2.5.",
        "Set the priority of every open ticket of user \"B\" to .", "Create an order for customer \"A\" with these fields: [1].",
        "Cancel every pending order of customer \"A\". And more", ""}) {
    Result<ApiStep> r = ParseApiStep(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace tide::env
