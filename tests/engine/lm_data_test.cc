#include "tide/engine/lm_data.h"

#include <gtest/gtest.h>

#include "tide/engine/bpe_trainer.h"

namespace tide::engine {
namespace {

Tokenizer SmallTokenizer() {
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) texts.push_back("the swarm searches and opens documents " + std::to_string(i));
  BpeTrainOptions o;
  o.vocab_size = 320;
  Result<Tokenizer> t = TrainBpe(texts, o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

TEST(LmDataTest, TextRecordsLearnEveryToken) {
  const Tokenizer tok = SmallTokenizer();
  Result<LmExample> ex = EncodeRecord(tok, {{"text", "the swarm opens documents"}});
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  ASSERT_FALSE(ex->tokens.empty());
  EXPECT_EQ(ex->tokens.size(), ex->weights.size());
  for (float w : ex->weights) EXPECT_EQ(w, 1.f);
  Result<std::string> back = tok.Decode(std::vector<TokenId>(ex->tokens.begin(), ex->tokens.end()));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "the swarm opens documents");
}

TEST(LmDataTest, ChatRecordsLearnOnlyAssistantTurns) {
  const Tokenizer tok = SmallTokenizer();
  const nlohmann::json record = {
      {"messages",
       {{{"role", "system"}, {"content", "be brief"}},
        {{"role", "user"}, {"content", "find it"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls", {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "search"}, {"arguments", "{\"query\": \"x\"}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "found"}},
        {{"role", "assistant"}, {"content", "done"}}}},
      {"tools", {{{"type", "function"}, {"function", {{"name", "search"}, {"parameters", {{"type", "object"}}}}}}}}};
  Result<LmExample> ex = EncodeRecord(tok, record);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  // Decode the weighted tokens: exactly the two assistant turns' bodies.
  std::vector<TokenId> learned, all(ex->tokens.begin(), ex->tokens.end());
  for (size_t i = 0; i < ex->tokens.size(); ++i) {
    if (ex->weights[i] > 0) learned.push_back(ex->tokens[i]);
  }
  Result<std::string> text = tok.Decode(learned);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("<tool_call>"), std::string::npos) << *text;
  EXPECT_NE(text->find("\"search\""), std::string::npos) << *text;
  EXPECT_NE(text->find("done<|im_end|>"), std::string::npos) << *text;
  EXPECT_EQ(text->find("be brief"), std::string::npos) << *text;
  EXPECT_EQ(text->find("find it"), std::string::npos) << *text;
  EXPECT_EQ(text->find("found"), std::string::npos) << *text;
  EXPECT_EQ(text->find("<|im_start|>assistant"), std::string::npos) << "the header is prompt, not learned";
  // Nothing is lost: the whole example decodes to the rendered chat.
  Result<std::string> whole = tok.Decode(all);
  ASSERT_TRUE(whole.ok());
  EXPECT_NE(whole->find("<|im_start|>user\nfind it<|im_end|>"), std::string::npos) << *whole;
}

TEST(LmDataTest, BadRecordsNameTheField) {
  const Tokenizer tok = SmallTokenizer();
  Status s = EncodeRecord(tok, {{"text", 3}}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("text"), std::string::npos);
  s = EncodeRecord(tok, {{"prompt", "x"}}).status();
  EXPECT_NE(s.message().find("messages"), std::string::npos);
}

TEST(LmDataTest, PackWindowsShiftsTargetsAndSkipsUnweighted) {
  LmExample a{{1, 2, 3, 4, 5}, {1, 1, 1, 1, 1}};
  LmExample b{{6, 7, 8}, {0, 0, 0}};
  const std::vector<LmWindow> w = PackWindows({a, b}, 3, 99);
  // Stream: 1 2 3 4 5 99 6 7 8 99 (weights 1 1 1 1 1 1 0 0 0 0)
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].inputs, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(w[0].targets, (std::vector<int32_t>{2, 3, 4}));
  EXPECT_EQ(w[1].inputs, (std::vector<int32_t>{4, 5, 99}));
  EXPECT_EQ(w[1].targets, (std::vector<int32_t>{5, 99, 6}));
  EXPECT_EQ(w[1].weights, (std::vector<float>{1, 1, 0}));
}

TEST(LmDataTest, PackWholeExamplesKeepsEachExampleInOneWindow) {
  // With separators a, b, c, d are 4, 3, 2, 2 tokens; windows hold 4 + 1. Best fit
  // decreasing: a alone (room 1), b in a second window, c fills b's room 2, d needs a third.
  LmExample a{{1, 2, 3}, {0, 1, 1}};
  LmExample b{{4, 5}, {0, 1}};
  LmExample c{{6}, {1}};
  LmExample d{{7}, {1}};
  PackStats st;
  const std::vector<LmWindow> w = PackWholeExamples({c, a, d, b}, 4, 99, &st);
  EXPECT_EQ(st.examples, 4u);
  EXPECT_EQ(st.split_examples, 0u);
  EXPECT_EQ(st.tokens, 11u);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(st.padding, 3u * 5u - 11u);
  // Window 0: a then padding; the separator after a is learned (weight of a's last token).
  EXPECT_EQ(w[0].inputs, (std::vector<int32_t>{1, 2, 3, 99}));
  EXPECT_EQ(w[0].targets, (std::vector<int32_t>{2, 3, 99, 99}));
  EXPECT_EQ(w[0].weights, (std::vector<float>{1, 1, 1, 0}));
  // Window 1: b then c, whole.
  EXPECT_EQ(w[1].inputs, (std::vector<int32_t>{4, 5, 99, 6}));
  EXPECT_EQ(w[1].targets, (std::vector<int32_t>{5, 99, 6, 99}));
  EXPECT_EQ(w[1].weights, (std::vector<float>{1, 1, 1, 1}));
  // Every example token sits in exactly one window, next to its own example's tokens.
  EXPECT_EQ(w[2].inputs, (std::vector<int32_t>{7, 99, 99, 99}));
  EXPECT_EQ(w[2].weights, (std::vector<float>{1, 0, 0, 0}));
  // Each example (with its separator) is its own attention segment; so is the padding.
  EXPECT_EQ(w[0].segments, (std::vector<int32_t>{4}));
  EXPECT_EQ(w[1].segments, (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(w[2].segments, (std::vector<int32_t>{2, 2}));
}

TEST(LmDataTest, PackWholeExamplesCutsOnlyExamplesLongerThanAWindow) {
  LmExample longer{{1, 2, 3, 4, 5, 6}, {1, 1, 1, 1, 1, 1}};  // 7 with the separator
  PackStats st;
  const std::vector<LmWindow> w = PackWholeExamples({longer}, 4, 99, &st);
  EXPECT_EQ(st.split_examples, 1u);
  ASSERT_EQ(w.size(), 2u);
  // As a stream would: 1 2 3 4 | 5 6 99, each target predicted from its own prefix.
  EXPECT_EQ(w[0].inputs, (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(w[0].targets, (std::vector<int32_t>{2, 3, 4, 5}));
  EXPECT_EQ(w[1].inputs, (std::vector<int32_t>{5, 6, 99, 99}));
  EXPECT_EQ(w[1].targets, (std::vector<int32_t>{6, 99, 99, 99}));
  EXPECT_EQ(w[1].weights, (std::vector<float>{1, 1, 0, 0}));
  EXPECT_EQ(w[0].segments, (std::vector<int32_t>{4}));
  EXPECT_EQ(w[1].segments, (std::vector<int32_t>{3, 1}));
}

}  // namespace
}  // namespace tide::engine
