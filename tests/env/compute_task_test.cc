#include "tide/env/compute_task.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

ComputeData Fixed() {
  ComputeData d;
  d.series = [](const std::string& name, const std::string& from, const std::string& to) -> Result<std::vector<double>> {
    if (name == "north") return std::vector<double>{100.5, 200.25, 50.0};
    if (name == "south") return std::vector<double>{10.0, 30.0, 20.0};
    if (name == "costs") return std::vector<double>{40.0, 60.0, 20.0};
    return NotFound("no series " + name + " " + from + " " + to);
  };
  d.rate = [](const std::string& from, const std::string& to, const std::string&) -> Result<double> {
    if (from == "USD" && to == "EUR") return 0.9;
    return NotFound("no rate");
  };
  return d;
}

const char kTask[] =
    "Compute this.\n\nSteps (6):\n"
    "1. a1 = sum of series \"north\" from 2023-04 to 2023-06\n"
    "2. a2 = average of series \"south\" from 2023-04 to 2023-06\n"
    "3. total = a1 + a2\n"
    "4. costs = max of series \"costs\" from 2023-04 to 2023-06\n"
    "5. net = total - costs\n"
    "6. converted = net converted from USD to EUR at the rate for 2023-06\n"
    "Answer: converted\n";

TEST(ComputeTaskTest, ParsesEvaluatesAndFormatsBack) {
  Result<ComputeSpec> spec = ParseComputeSteps(kTask);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_EQ(spec->steps.size(), 6u);
  EXPECT_EQ(spec->steps[0].series, "north");
  EXPECT_EQ(spec->steps[1].op, "average");
  EXPECT_EQ(spec->steps[2].args, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(spec->steps[5].currency_to, "EUR");
  EXPECT_EQ(spec->answer, "converted");
  // Hand-computed: a1 = 350.75, a2 = 20, total = 370.75, costs = 60, net = 310.75, * 0.9 = 279.675.
  Result<double> v = EvaluateCompute(*spec, Fixed());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_NEAR(*v, 279.675, 1e-9);
  Result<ComputeSpec> again = ParseComputeSteps(FormatComputeSteps(*spec));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(FormatComputeSteps(*again), FormatComputeSteps(*spec));
}

TEST(ComputeTaskTest, DivisionMultiplicationFirstLastMin) {
  Result<ComputeSpec> spec = ParseComputeSteps(
      "Steps (5):\n1. f = first of series \"north\" from 2023-01 to 2023-03\n"
      "2. l = last of series \"north\" from 2023-01 to 2023-03\n3. m = min of series \"south\" from 2023-01 to 2023-03\n"
      "4. r = l / 4\n5. x = r * m\nAnswer: x\n");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_NEAR(*EvaluateCompute(*spec, Fixed()), 50.0 / 4 * 10.0, 1e-12);
}

TEST(ComputeTaskTest, MalformedStepsAreNamed) {
  for (const std::string& bad :
       {std::string("Steps (1):\n1. a = median of series \"x\" from 2023-01 to 2023-02\nAnswer: a\n"),
        std::string("Steps (1):\n1. a = sum of series \"x\" from 2023-13 to 2023-02\nAnswer: a\n"),
        std::string("Steps (1):\n1. a = b + c - d\nAnswer: a\n"),
        std::string("Steps (1):\n1. a = b converted to EUR\nAnswer: a\n"),
        std::string("Steps (2):\n1. a = 1 + 2\nAnswer: a\n"), std::string("Steps (1):\n1. a = 1 + 2\n"),
        std::string("nothing here")}) {
    Result<ComputeSpec> r = ParseComputeSteps(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("compute task"), std::string::npos);
  }
}

TEST(ComputeTaskTest, EvaluationErrorsAreStatuses) {
  Result<ComputeSpec> zero = ParseComputeSteps("Steps (2):\n1. a = 1 - 1\n2. b = 3 / a\nAnswer: b\n");
  ASSERT_TRUE(zero.ok());
  EXPECT_NE(EvaluateCompute(*zero, Fixed()).status().message().find("divides by zero"), std::string::npos);
  Result<ComputeSpec> unknown = ParseComputeSteps("Steps (1):\n1. a = q + 1\nAnswer: a\n");
  EXPECT_NE(EvaluateCompute(*unknown, Fixed()).status().message().find("\"q\""), std::string::npos);
  Result<ComputeSpec> missing = ParseComputeSteps("Steps (1):\n1. a = sum of series \"west\" from 2023-01 to 2023-02\nAnswer: a\n");
  EXPECT_EQ(EvaluateCompute(*missing, Fixed()).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tide::env
