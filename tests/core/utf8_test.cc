// ValidUtf8: valid text passes unchanged; every byte that does not start a valid sequence
// becomes U+FFFD, so the result always serialises as JSON.
#include "tide/core/utf8.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tide {
namespace {

TEST(Utf8Test, ValidTextIsUnchanged) {
  const std::string text = "plain, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x8C\x8A";
  EXPECT_EQ(ValidUtf8(text), text);
  EXPECT_EQ(ValidUtf8(""), "");
}

TEST(Utf8Test, EachMaximalIllFormedPartBecomesOneReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(ValidUtf8("a\xFF" "b"), "a" + r + "b");                  // never a lead byte
  EXPECT_EQ(ValidUtf8("\xC3"), r);                                    // truncated at the end
  EXPECT_EQ(ValidUtf8("\xE2\x82" "x"), r + "x");                      // truncated, then text
  EXPECT_EQ(ValidUtf8("\xF0\x9F\x8C"), r);                           // truncated at the end
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), r + r);                            // overlong
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), r + r + r);                    // a surrogate
  EXPECT_EQ(ValidUtf8("\xF4\x90\x80\x80"), r + r + r + r);            // past U+10FFFF
  EXPECT_EQ(ValidUtf8("\x80" "ok"), r + "ok");                        // a stray continuation
}

TEST(Utf8Test, TheResultAlwaysSerialisesAsJson) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  EXPECT_THROW(nlohmann::json(every_byte).dump(), nlohmann::json::type_error);
  EXPECT_NO_THROW(nlohmann::json(ValidUtf8(every_byte)).dump());
}

TEST(Utf8Test, AgreesWithJsonDumpsReplacement) {
  // The OpenAI server streams deltas dumped with error_handler_t::replace and answers
  // whole messages cleaned here: the two must give the same text.
  for (const std::string bad : {std::string("a\xE2\x82" "b\xFF\xC3"), std::string("\xED\xA0\x80\xF4\x90\x80\x80"),
                                std::string("\xC0\xAF\xE0\x80\x80 \xF0\x9F\x8C\x8A \xF0\x9F")}) {
    const std::string dumped = nlohmann::json(bad).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    EXPECT_EQ(nlohmann::json::parse(dumped).get<std::string>(), ValidUtf8(bad));
  }
}

}  // namespace
}  // namespace tide
