#include "tide/core/status.h"

#include <memory>
#include <string>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide {
namespace {

using ::testing::HasSubstr;

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok(), Status());
}

TEST(StatusTest, CodesMatchGrpcNumbering) {
  EXPECT_EQ(static_cast<int>(StatusCode::kOk), 0);
  EXPECT_EQ(static_cast<int>(StatusCode::kCancelled), 1);
  EXPECT_EQ(static_cast<int>(StatusCode::kInvalidArgument), 3);
  EXPECT_EQ(static_cast<int>(StatusCode::kDeadlineExceeded), 4);
  EXPECT_EQ(static_cast<int>(StatusCode::kNotFound), 5);
  EXPECT_EQ(static_cast<int>(StatusCode::kAlreadyExists), 6);
  EXPECT_EQ(static_cast<int>(StatusCode::kResourceExhausted), 8);
  EXPECT_EQ(static_cast<int>(StatusCode::kFailedPrecondition), 9);
  EXPECT_EQ(static_cast<int>(StatusCode::kUnimplemented), 12);
  EXPECT_EQ(static_cast<int>(StatusCode::kInternal), 13);
  EXPECT_EQ(static_cast<int>(StatusCode::kUnavailable), 14);
  EXPECT_EQ(static_cast<int>(StatusCode::kDataLoss), 15);
}

TEST(StatusTest, HelpersSetCodeAndMessage) {
  struct Case {
    Status status;
    StatusCode code;
    const char* name;
  };
  const Case cases[] = {
      {InvalidArgument("m"), StatusCode::kInvalidArgument, "INVALID_ARGUMENT"},
      {NotFound("m"), StatusCode::kNotFound, "NOT_FOUND"},
      {AlreadyExists("m"), StatusCode::kAlreadyExists, "ALREADY_EXISTS"},
      {FailedPrecondition("m"), StatusCode::kFailedPrecondition, "FAILED_PRECONDITION"},
      {Internal("m"), StatusCode::kInternal, "INTERNAL"},
      {Unavailable("m"), StatusCode::kUnavailable, "UNAVAILABLE"},
      {Cancelled("m"), StatusCode::kCancelled, "CANCELLED"},
      {DeadlineExceeded("m"), StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED"},
      {ResourceExhausted("m"), StatusCode::kResourceExhausted, "RESOURCE_EXHAUSTED"},
      {Unimplemented("m"), StatusCode::kUnimplemented, "UNIMPLEMENTED"},
      {DataLoss("m"), StatusCode::kDataLoss, "DATA_LOSS"},
      {IoError("m"), StatusCode::kInternal, "INTERNAL"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.ok()) << c.name;
    EXPECT_EQ(c.status.code(), c.code) << c.name;
    EXPECT_EQ(c.status.message(), "m") << c.name;
    EXPECT_EQ(c.status.ToString(), std::string(c.name) + ": m");
  }
}

TEST(StatusTest, StatusCodeNameCoversEveryCode) {
  EXPECT_EQ(StatusCodeName(StatusCode::kOk), "OK");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnknown), "UNKNOWN");
  EXPECT_EQ(StatusCodeName(StatusCode::kPermissionDenied), "PERMISSION_DENIED");
  EXPECT_EQ(StatusCodeName(StatusCode::kAborted), "ABORTED");
  EXPECT_EQ(StatusCodeName(StatusCode::kOutOfRange), "OUT_OF_RANGE");
  EXPECT_EQ(StatusCodeName(static_cast<StatusCode>(999)), "UNKNOWN");
}

TEST(StatusTest, ToStringNamesCodeAndMessage) {
  Status s = InvalidArgument("--subagents must be in 1..100, got 0");
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT: --subagents must be in 1..100, got 0");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = NotFound("no such run r1");
  Status c = s.WithContext("resume");
  EXPECT_EQ(c.code(), StatusCode::kNotFound);
  EXPECT_EQ(c.message(), "resume: no such run r1");
  EXPECT_EQ(c.ToString(), "NOT_FOUND: resume: no such run r1");
  // The original is unchanged.
  EXPECT_EQ(s.message(), "no such run r1");
  // Contexts nest outermost first.
  EXPECT_EQ(c.WithContext("cli").message(), "cli: resume: no such run r1");
}

TEST(StatusTest, WithContextOnOkStaysOk) {
  Status c = Status::Ok().WithContext("anything");
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.message(), "");
}

TEST(StatusTest, EqualityComparesCodeAndMessage) {
  EXPECT_EQ(InvalidArgument("a"), InvalidArgument("a"));
  EXPECT_FALSE(InvalidArgument("a") == InvalidArgument("b"));
  EXPECT_FALSE(InvalidArgument("a") == NotFound("a"));
  EXPECT_EQ(Status(StatusCode::kAborted, "x"), Status(StatusCode::kAborted, "x"));
}

TEST(StatusResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  r.value() = 7;
  EXPECT_EQ(*r, 7);
}

TEST(StatusResultTest, HoldsError) {
  Result<int> r = NotFound("missing thing");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "missing thing");
}

TEST(StatusResultTest, ArrowAndMoveOut) {
  Result<std::string> r = std::string("hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 5u);
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "hello");

  Result<std::unique_ptr<int>> p = std::make_unique<int>(5);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, 5);
}

Result<int> ParsePositive(int x) {
  if (x <= 0) return InvalidArgument("x must be positive, got " + std::to_string(x));
  return x;
}

Result<int> DoubledPlusOne(int x, bool* reached_end) {
  TIDE_ASSIGN_OR_RETURN(int v, ParsePositive(x));
  TIDE_ASSIGN_OR_RETURN(const int w, ParsePositive(v * 2));
  *reached_end = true;
  return w + 1;
}

TEST(StatusResultTest, AssignOrReturnBindsValue) {
  bool reached = false;
  Result<int> r = DoubledPlusOne(3, &reached);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 7);
  EXPECT_TRUE(reached);
}

TEST(StatusResultTest, AssignOrReturnPropagatesError) {
  bool reached = false;
  Result<int> r = DoubledPlusOne(-2, &reached);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "x must be positive, got -2");
  EXPECT_FALSE(reached);
}

Status AssignIntoStatusFunction(int x, int* out) {
  TIDE_ASSIGN_OR_RETURN(*out, ParsePositive(x));
  return Status::Ok();
}

TEST(StatusResultTest, AssignOrReturnWorksInStatusFunctionsAndExistingLvalues) {
  int out = 0;
  EXPECT_TRUE(AssignIntoStatusFunction(9, &out).ok());
  EXPECT_EQ(out, 9);
  Status s = AssignIntoStatusFunction(0, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("got 0"));
  EXPECT_EQ(out, 9);
}

Status ReturnIfError(Status first, bool* reached_end) {
  TIDE_RETURN_IF_ERROR(first);
  *reached_end = true;
  return Status::Ok();
}

TEST(StatusTest, ReturnIfErrorReturnsFirstError) {
  bool reached = false;
  EXPECT_TRUE(ReturnIfError(Status::Ok(), &reached).ok());
  EXPECT_TRUE(reached);
  reached = false;
  EXPECT_EQ(ReturnIfError(Unavailable("down"), &reached), Unavailable("down"));
  EXPECT_FALSE(reached);
}

}  // namespace
}  // namespace tide
