#include "tide/engine/tokenizer_json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tide/engine/bpe_trainer.h"

namespace tide::engine {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / ("tide_tokjson_" + name)).string();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The 256 byte tokens in GPT-2's order (printable bytes first), as HF writes them:
// "\"!\": 0, ... \"Ġ\": 220, ...".
std::string Gpt2ByteVocabEntries() {
  std::vector<int> order;
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  for (int b = 0; b < 256; ++b) {
    if (printable(b)) order.push_back(b);
  }
  for (int b = 0; b < 256; ++b) {
    if (!printable(b)) order.push_back(b);
  }
  std::string out;
  for (size_t id = 0; id < order.size(); ++id) {
    out += "\n      " + nlohmann::json(ByteLevelEncode(std::string(1, static_cast<char>(order[id])))).dump() + ": " +
           std::to_string(id) + ",";
  }
  return out;
}

// A GPT-2 style tokenizer.json in the layout `tokenizers` writes (tokenizer.save()).
std::string HfTokenizerJson(const std::string& merges) {
  return R"({
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [
    {
      "id": 261,
      "content": "<|endoftext|>",
      "single_word": false,
      "lstrip": false,
      "rstrip": false,
      "normalized": true,
      "special": true
    },
    {
      "id": 262,
      "content": "<|im_start|>",
      "single_word": false,
      "lstrip": false,
      "rstrip": false,
      "normalized": false,
      "special": true
    }
  ],
  "normalizer": null,
  "pre_tokenizer": {
    "type": "ByteLevel",
    "add_prefix_space": false,
    "trim_offsets": true,
    "use_regex": true
  },
  "post_processor": {
    "type": "ByteLevel",
    "add_prefix_space": true,
    "trim_offsets": false,
    "use_regex": true
  },
  "decoder": {
    "type": "ByteLevel",
    "add_prefix_space": true,
    "trim_offsets": true,
    "use_regex": true
  },
  "model": {
    "type": "BPE",
    "dropout": null,
    "unk_token": null,
    "continuing_subword_prefix": "",
    "end_of_word_suffix": "",
    "fuse_unk": false,
    "byte_fallback": false,
    "ignore_merges": false,
    "vocab": {)" +
         Gpt2ByteVocabEntries() +
         R"(
      "Ġt": 256,
      "he": 257,
      "Ġthe": 258,
      "in": 259,
      "Ġa": 260,
      "<|endoftext|>": 261
    },
    "merges": )" +
         merges +
         R"(
  }
})";
}

const char* kStringMerges = R"([
      "Ġ t",
      "h e",
      "Ġt he",
      "i n",
      "Ġ a"
    ])";
const char* kPairMerges = R"([
      ["Ġ", "t"],
      ["h", "e"],
      ["Ġt", "he"],
      ["i", "n"],
      ["Ġ", "a"]
    ])";

TEST(TokenizerJsonTest, LoadsHuggingFaceGpt2Layout) {
  const std::string path = TempPath("gpt2.json");
  WriteFile(path, HfTokenizerJson(kStringMerges));
  Result<Tokenizer> t = LoadTokenizerJson(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->vocab_size(), 263);
  EXPECT_EQ(t->TokenToId("Ġ"), 220);  // GPT-2's id for the space byte
  EXPECT_EQ(t->TokenToId("!"), 0);
  EXPECT_EQ(t->Encode(" the in a", false), (std::vector<TokenId>{258, 220, 259, 260}));
  EXPECT_EQ(t->Encode("<|endoftext|> the", true), (std::vector<TokenId>{261, 258}));
  EXPECT_EQ(t->Encode("<|im_start|>", true), std::vector<TokenId>{262});
  EXPECT_EQ(t->special_ids().end_of_text, 261);
  EXPECT_EQ(t->special_ids().im_start, 262);
  EXPECT_EQ(t->special_ids().im_end, -1);
  EXPECT_EQ(*t->Decode(std::vector<TokenId>{258, 261, 262}), " the<|endoftext|><|im_start|>");
  EXPECT_EQ(*t->Decode(std::vector<TokenId>{258, 261, 262}, true), " the");
  EXPECT_EQ(*t->Decode(t->Encode("\xff\xfe <|endoftext|>", false)), "\xff\xfe <|endoftext|>");
}

TEST(TokenizerJsonTest, AcceptsPairMerges) {
  Result<Tokenizer> a = ParseTokenizerJson(HfTokenizerJson(kStringMerges), "a.json");
  Result<Tokenizer> b = ParseTokenizerJson(HfTokenizerJson(kPairMerges), "b.json");
  ASSERT_TRUE(a.ok() && b.ok()) << b.status().ToString();
  EXPECT_EQ(a->merges(), b->merges());
  EXPECT_EQ(a->Encode(" the thin", false), b->Encode(" the thin", false));
}

TEST(TokenizerJsonTest, SaveThenLoadIsIdentical) {
  std::vector<std::string> texts;
  std::mt19937 rng(3);
  const std::vector<std::string> words = {"swarm", "agent", " tool", "call", "é", "東京", "42", "\n", "  ", "'s"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    for (int w = 0; w < 8; ++w) s += words[rng() % words.size()] + (rng() % 2 ? " " : "");
    texts.push_back(s);
  }
  BpeTrainOptions options;
  options.vocab_size = 400;
  Result<Tokenizer> trained = TrainBpe(texts, options);
  ASSERT_TRUE(trained.ok());
  const std::string path = TempPath("roundtrip.json");
  ASSERT_TRUE(SaveTokenizerJson(*trained, path).ok());
  Result<Tokenizer> loaded = LoadTokenizerJson(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->Vocab(), trained->Vocab());
  EXPECT_EQ(loaded->merges(), trained->merges());
  EXPECT_EQ(loaded->added_tokens(), trained->added_tokens());
  EXPECT_EQ(loaded->vocab_size(), trained->vocab_size());
  texts.push_back("<|im_start|>system\n<tool_call>\n{\"name\": \"x\"}\n</tool_call><|im_end|>\xff");
  for (const std::string& s : texts) {
    EXPECT_EQ(loaded->Encode(s, true), trained->Encode(s, true));
    EXPECT_EQ(loaded->Encode(s, false), trained->Encode(s, false));
  }
  // Saving again writes the same bytes.
  EXPECT_EQ(*TokenizerToJsonText(*loaded), *TokenizerToJsonText(*trained));
}

TEST(TokenizerJsonTest, WritesHuggingFaceLayout) {
  BpeTrainOptions options;
  options.vocab_size = 300;
  Result<Tokenizer> t = TrainBpe({"hello hello world world <|im_end|>"}, options);
  ASSERT_TRUE(t.ok());
  Result<std::string> text = TokenizerToJsonText(*t);
  ASSERT_TRUE(text.ok());
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(*text);
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(j["model"]["vocab"].begin().key(), "Ā");  // byte 0 first: vocab in id order
  EXPECT_EQ(j["model"]["vocab"]["Ġ"], 32);
  ASSERT_FALSE(j["model"]["merges"].empty());
  EXPECT_TRUE(j["model"]["merges"][0].is_string());
  EXPECT_EQ(j["added_tokens"].size(), 9u);
  EXPECT_EQ(j["added_tokens"][2]["content"], "<|im_end|>");
  EXPECT_EQ(j["added_tokens"][2]["special"], true);
  EXPECT_EQ(j["added_tokens"][3]["content"], "<tool_call>");
  EXPECT_EQ(j["added_tokens"][3]["special"], false);
}

struct BadCase {
  std::string from;  // replaced in the GPT-2 file
  std::string to;
  std::string field;  // expected in the message
  StatusCode code;
};

TEST(TokenizerJsonTest, MalformedFilesNameFileAndField) {
  const std::string good = HfTokenizerJson(kStringMerges);
  const std::vector<BadCase> cases = {
      {"\"vocab\": {", "\"vocabulary\": {", "model.vocab", StatusCode::kInvalidArgument},
      {"\"Ġ t\"", "\"Ġt\"", "model.merges[0]", StatusCode::kInvalidArgument},
      {"\"i n\"", "\"i q\"", "model.merges[3]", StatusCode::kInvalidArgument},
      {"\"i n\"", "7", "model.merges[3]", StatusCode::kInvalidArgument},
      {"\"Ġa\": 260", "\"東\": 260", "model.vocab", StatusCode::kInvalidArgument},
      {"\"Ġa\": 260", "\"Ġa\": -4", "model.vocab", StatusCode::kInvalidArgument},
      {"\"content\": \"<|im_start|>\"", "\"content\": 5", "added_tokens[1].content", StatusCode::kInvalidArgument},
      {"\"id\": 262", "\"id\": 258", "added_tokens", StatusCode::kInvalidArgument},
      {"\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}", "normalizer", StatusCode::kUnimplemented},
      {"\"type\": \"BPE\"", "\"type\": \"WordPiece\"", "model.type", StatusCode::kUnimplemented},
      {"\"add_prefix_space\": false", "\"add_prefix_space\": true", "pre_tokenizer.add_prefix_space",
       StatusCode::kUnimplemented},
      {"\"dropout\": null", "\"dropout\": 0.1", "model.dropout", StatusCode::kUnimplemented},
  };
  for (const BadCase& c : cases) {
    std::string text = good;
    const size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    const std::string path = TempPath("bad.json");
    WriteFile(path, text);
    Result<Tokenizer> t = LoadTokenizerJson(path);
    ASSERT_FALSE(t.ok()) << c.to;
    EXPECT_EQ(t.status().code(), c.code) << t.status().ToString();
    EXPECT_NE(t.status().message().find(path), std::string::npos) << t.status().ToString();
    EXPECT_NE(t.status().message().find(c.field), std::string::npos) << t.status().ToString();
  }
}

TEST(TokenizerJsonTest, MissingOrInvalidFiles) {
  Result<Tokenizer> missing = LoadTokenizerJson(TempPath("does_not_exist.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  const std::string path = TempPath("truncated.json");
  WriteFile(path, HfTokenizerJson(kStringMerges).substr(0, 500));
  Result<Tokenizer> truncated = LoadTokenizerJson(path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find(path + ": not valid JSON"), std::string::npos);
  EXPECT_FALSE(ParseTokenizerJson("[]", "x.json").ok());
}

}  // namespace
}  // namespace tide::engine
