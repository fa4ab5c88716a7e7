// TokenConstraint over real vocabularies: token masks equal brute force, end tokens, the
// tool-call schema, and the 1,000-prompt decode where every output is schema-valid.
#include "tide/engine/json_constraint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "json_constraint_test_util.h"

#include "tide/engine/bpe_trainer.h"
#include "tide/engine/chat_template.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {
namespace {

using namespace json_test;

std::string Word(std::mt19937& rng) {
  static const char kC[] = "bcdfghklmnprstvwz";
  static const char kV[] = "aeiou";
  auto skewed = [&](size_t n) {
    return std::min<size_t>(n - 1, static_cast<size_t>(n * std::pow(rng() / 4294967296.0, 2.0)));
  };
  std::string w;
  const int n = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < n; ++i) {
    w += kC[skewed(sizeof(kC) - 1)];
    w += kV[skewed(sizeof(kV) - 1)];
    if (rng() % 3 == 0) w += kC[skewed(sizeof(kC) - 1)];
  }
  return w;
}

// Tool calls as the chat template writes them, with varied argument values.
std::vector<std::string> JsonCorpus(int docs, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (int d = 0; d < docs; ++d) {
    json args = json::object();
    const auto& [name, params] = Tools()[rng() % Tools().size()];
    for (const auto& [key, sub] : params["properties"].items()) {
      if (rng() % 3 == 0) continue;
      const std::string type =
          sub.contains("type") && sub["type"].is_string() ? sub["type"].get<std::string>() : "string";
      if (sub.contains("enum")) {
        args[key] = sub["enum"][rng() % sub["enum"].size()];
      } else if (type == "integer") {
        args[key] = static_cast<int>(rng() % 2000) - 100;
      } else if (type == "number") {
        args[key] = static_cast<double>(rng() % 10000) / 8.0;
      } else if (type == "array") {
        args[key] = json::array({Word(rng), Word(rng)});
      } else if (type == "object") {
        args[key] = {{Word(rng), Word(rng)}};
      } else {
        args[key] = Word(rng) + " " + Word(rng) + (rng() % 4 == 0 ? ", " + Word(rng) + "." : "");
      }
    }
    out.push_back("<tool_call>\n" + TemplateJson({{"name", name}, {"arguments", args}}) + "\n</tool_call>");
  }
  return out;
}

const Tokenizer& Vocab(int size) {
  static std::map<int, Tokenizer>* cache = new std::map<int, Tokenizer>();
  auto it = cache->find(size);
  if (it == cache->end()) {
    BpeTrainOptions options;
    options.vocab_size = size;
    BpeTrainStats stats;
    auto tok = TrainBpe(JsonCorpus(size <= 1024 ? 1500 : 6000, 7), options, &stats);
    EXPECT_TRUE(tok.ok()) << tok.status().ToString();
    std::cout << "[ vocab    ] trained " << stats.vocab_size << " tokens (" << stats.merges << " merges) in "
              << stats.seconds << " s\n";
    it = cache->emplace(size, std::move(tok).value()).first;
  }
  return it->second;
}

bool AllIn(std::string_view bytes, std::string_view set) {
  return !bytes.empty() && bytes.find_first_not_of(set) == std::string_view::npos;
}

struct DecodeStats {
  int steps = 0;
  int empty_masks = 0;    // before Complete(): must stay 0
  int end_mismatch = 0;   // mask[end] != Complete(): must stay 0
  double mask_seconds = 0;
  std::vector<double> times;  // per step, seconds
  double Percentile(double p) {
    if (times.empty()) return 0;
    std::sort(times.begin(), times.end());
    return times[std::min(times.size() - 1, static_cast<size_t>(p * static_cast<double>(times.size())))];
  }
};

// The random policy: uniform among allowed tokens; past `close_after` bytes, uniform among
// allowed tokens made only of closing bytes ("}] and the end token) when there are any.
// Returns the text before the end token; "" and a failure on a broken invariant.
// Per token: made only of closing bytes, or the end token.
std::vector<uint8_t> Closers(const std::vector<std::string>& bytes, int32_t end) {
  std::vector<uint8_t> closer(bytes.size());
  for (size_t id = 0; id < bytes.size(); ++id) closer[id] = AllIn(bytes[id], "\"}]") || id == static_cast<size_t>(end);
  return closer;
}

// Sum of n 0/1 bytes (a & b when b is given), eight at a time (fast enough in debug builds).
int CountOnes(const uint8_t* a, const uint8_t* b, size_t n) {
  int total = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y = ~uint64_t{0};
    std::memcpy(&x, a + i, 8);
    if (b) std::memcpy(&y, b + i, 8);
    total += static_cast<int>(((x & y) * 0x0101010101010101ull) >> 56);
  }
  for (; i < n; ++i) total += a[i] & (b ? b[i] : 1);
  return total;
}

std::string Decode(TokenConstraint& c, const std::vector<std::string>& bytes, const std::vector<uint8_t>& closer,
                   int32_t end, std::mt19937& rng, size_t close_after, DecodeStats* stats,
                   bool brute_force_check = false) {
  std::string out;
  std::vector<uint8_t> mask;
  for (int step = 0; step < 5000; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    c.AllowedTokens(&mask);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats->mask_seconds += seconds;
    stats->times.push_back(seconds);
    ++stats->steps;
    const bool complete = c.Complete();
    if (mask[end] != complete) ++stats->end_mismatch;
    if (brute_force_check) {
      for (int32_t id = 0; id < static_cast<int32_t>(mask.size()); ++id) {
        if (id == end) continue;
        const bool expect = !bytes[id].empty() && c.matcher().CanAccept(bytes[id]);
        if (mask[id] != expect) {
          ADD_FAILURE() << "mask[" << id << "] " << json(bytes[id]).dump() << " = " << int(mask[id]) << " after "
                        << Show(out);
          return "";
        }
      }
    }
    // Count, draw, then find the drawn one (no per-token vector work: debug builds).
    const uint8_t* m = mask.data();
    const int allowed = CountOnes(m, nullptr, mask.size());
    const int preferred = CountOnes(m, closer.data(), mask.size());
    if (allowed == 0) {
      if (!complete) ++stats->empty_masks;
      return out;
    }
    const bool close = out.size() > close_after && preferred > 0;
    int k = static_cast<int>(rng() % static_cast<uint32_t>(close ? preferred : allowed));
    int32_t id = 0;
    for (;; ++id) {
      if (m[id] && (!close || closer[id]) && k-- == 0) break;
    }
    const Status st = c.Accept(id);
    if (!st.ok()) {
      ADD_FAILURE() << st.ToString();
      return "";
    }
    if (id == end) return out;
    out += bytes[id];
  }
  ADD_FAILURE() << "no end after 5000 tokens";
  return out;
}

std::vector<std::string> TokenBytes(const Tokenizer& tok) {
  std::vector<std::string> bytes(tok.vocab_size());
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (!tok.IsAddedToken(id)) bytes[id] = std::string(tok.TokenBytes(id));
  }
  return bytes;
}

// Random byte-level walks: at every step some byte must be acceptable until the value is
// complete (the termination guarantee), the hints must be exact in their direction, and
// every finished text must parse (strictly, no duplicate keys) and match the schema.
TEST(JsonTokenConstraintTest, AcceptsTokensAndEndToken) {
  // Vocabulary: all single bytes, a few fragments, two special tokens.
  std::vector<std::string> vocab;
  for (int b = 0; b < 256; ++b) vocab.emplace_back(1, static_cast<char>(b));
  for (const char* f : {"{\"", "\": ", "\", \"", "\"}", "name", "location", "unit", "celsius"}) vocab.push_back(f);
  const int32_t tool_end = static_cast<int32_t>(vocab.size());
  vocab.emplace_back(kToolCallEnd);
  const int32_t im_end = static_cast<int32_t>(vocab.size());
  vocab.emplace_back(kImEnd);
  auto id = [&](std::string_view s) {
    return static_cast<int32_t>(std::find(vocab.begin(), vocab.end(), s) - vocab.begin());
  };

  auto made = TokenConstraint::Create(Make(kWeather), vocab, {tool_end, im_end}, {tool_end});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  TokenConstraint c = std::move(made).value();
  std::vector<uint8_t> mask;
  c.AllowedTokens(&mask);
  ASSERT_EQ(mask.size(), vocab.size());
  EXPECT_EQ(mask[id("{\"")], 1);
  EXPECT_EQ(mask[id("{")], 1);
  EXPECT_EQ(mask[id("\n")], 1);
  EXPECT_EQ(mask[id("name")], 0);
  EXPECT_EQ(mask[tool_end], 0);
  EXPECT_EQ(mask[im_end], 0);
  EXPECT_EQ(c.Accept(id("name")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Accept(tool_end).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Accept(im_end).code(), StatusCode::kInvalidArgument);  // special: never JSON text
  EXPECT_EQ(c.Accept(-1).code(), StatusCode::kInvalidArgument);
  for (const char* piece : {"{\"", "unit", "\": ", "\"", "celsius", "\", \"", "location", "\": ", "\"", "<", "\"}"}) {
    ASSERT_TRUE(c.Accept(id(piece)).ok()) << piece;
  }
  EXPECT_TRUE(c.Complete());
  c.AllowedTokens(&mask);
  EXPECT_EQ(mask[tool_end], 1);
  EXPECT_EQ(mask[im_end], 0);
  EXPECT_EQ(mask[id("\n")], 1);
  EXPECT_EQ(mask[id("}")], 0);
  std::vector<float> logits(vocab.size() + 2, 0.f);
  c.MaskLogits(logits);
  EXPECT_EQ(logits[tool_end], 0.f);
  EXPECT_TRUE(std::isinf(logits[id("}")]));
  EXPECT_TRUE(std::isinf(logits[vocab.size() + 1]));
  ASSERT_TRUE(c.Accept(tool_end).ok());
  EXPECT_TRUE(c.finished());
  c.AllowedTokens(&mask);
  EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), 0);
  EXPECT_EQ(c.Accept(id("\n")).code(), StatusCode::kFailedPrecondition);

  EXPECT_EQ(TokenConstraint::Create(Make(kWeather), vocab, {}, {9999}).status().code(), StatusCode::kInvalidArgument);
}

TEST(JsonTokenConstraintTest, ToolCallSchemaShape) {
  const json s = ToolCallSchema({{"f", kSearch}, {"g", nullptr}});
  ASSERT_EQ(s["anyOf"].size(), 2u);
  EXPECT_EQ(s["anyOf"][0]["properties"]["name"], json({{"const", "f"}}));
  EXPECT_EQ(s["anyOf"][0]["properties"]["arguments"], kSearch);
  EXPECT_EQ(s["anyOf"][0]["required"], json::array({"name", "arguments"}));
  EXPECT_EQ(s["anyOf"][0]["additionalProperties"], false);
  EXPECT_EQ(s["anyOf"][1]["properties"]["arguments"], json::parse(R"({"type": "object", "properties": {}})"));
  JsonSchemaMatcher m = Make(s);
  EXPECT_EQ(FirstReject(m, R"({"name": "g", "arguments": {}})"), -1);
  EXPECT_EQ(FirstReject(m, R"({"name": "g", "arguments": {"x)"), 28);
}

// Matches the mask against CanAccept token by token on states from random decodes (the
// trie walk, the hints and the plain-run shortcut must agree with the matcher).
TEST(JsonTokenConstraintTest, MaskEqualsBruteForce) {
  const Tokenizer& tok = Vocab(1024);
  const auto trie = TokenTrie::FromTokenizer(tok);
  const std::vector<std::string> bytes = TokenBytes(tok);
  const std::vector<uint8_t> closer = Closers(bytes, tok.special_ids().tool_call_end);
  const int32_t end = tok.special_ids().tool_call_end;
  DecodeStats stats;
  for (int run = 0; run < 12; ++run) {
    std::mt19937 rng(1000 + run);
    const auto& [name, params] = Tools()[run % Tools().size()];
    auto c = TokenConstraint::Create(Make(ToolCallSchema({{name, params}})), trie, {end});
    ASSERT_TRUE(c.ok());
    Decode(*c, bytes, closer, end, rng, 60, &stats, /*brute_force_check=*/true);
  }
  // A string with a small maxLength left: the plain-run shortcut must respect it.
  auto c = TokenConstraint::Create(Make({{"type", "string"}, {"maxLength", 3}}), trie, {end});
  ASSERT_TRUE(c.ok());
  std::mt19937 rng(5);
  Decode(*c, bytes, closer, end, rng, 0, &stats, true);
  EXPECT_EQ(stats.empty_masks, 0);
  EXPECT_EQ(stats.end_mismatch, 0);
}

// The issue's acceptance test: 1,000 prompts, each offering 1-3 of the tools, decoded
// with a random policy over a byte-level BPE vocabulary; every body must parse and match
// the chosen tool's schema, and the mask is never empty before the value is complete.
TEST(JsonTokenConstraintTest, ThousandRandomToolCallsAreValid) {
  const Tokenizer& tok = Vocab(1024);
  const auto trie = TokenTrie::FromTokenizer(tok);
  const std::vector<std::string> bytes = TokenBytes(tok);
  const std::vector<uint8_t> closer = Closers(bytes, tok.special_ids().tool_call_end);
  const int32_t end = tok.special_ids().tool_call_end;
  ASSERT_GE(end, 0);
  DecodeStats stats;
  size_t total_bytes = 0, max_bytes = 0;
  std::map<std::string, int> by_tool;
  std::map<std::string, JsonSchemaMatcher> matchers;  // compiled once per offered tool list
  const auto t0 = std::chrono::steady_clock::now();
  for (int seed = 0; seed < 1000; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<std::string, json>> offered;
    std::vector<size_t> order(Tools().size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    const size_t k = 1 + rng() % 3;
    for (size_t i = 0; i < k; ++i) offered.push_back(Tools()[order[i]]);
    std::string key;
    for (const auto& t : offered) key += t.first + ",";
    auto compiled = matchers.find(key);
    if (compiled == matchers.end()) compiled = matchers.emplace(key, Make(ToolCallSchema(offered))).first;
    auto c = TokenConstraint::Create(compiled->second, trie, {end});
    ASSERT_TRUE(c.ok());
    const std::string out = Decode(*c, bytes, closer, end, rng, 200, &stats);
    ASSERT_TRUE(c->finished()) << "seed " << seed;
    total_bytes += out.size();
    max_bytes = std::max(max_bytes, out.size());
    json v;
    std::string why;
    ASSERT_TRUE(ParseStrict(out, &v, &why)) << "seed " << seed << ": " << why << "\n" << out;
    ASSERT_TRUE(v.is_object() && v.size() == 2 && v.contains("name") && v.contains("arguments")) << out;
    const auto tool = std::find_if(offered.begin(), offered.end(), [&](const auto& t) { return v["name"] == t.first; });
    ASSERT_NE(tool, offered.end()) << out;
    ASSERT_TRUE(Valid(tool->second, v["arguments"], &why)) << "seed " << seed << ": " << why << "\n" << out;
    ++by_tool[tool->first];
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(stats.empty_masks, 0);
  EXPECT_EQ(stats.end_mismatch, 0);
  EXPECT_EQ(by_tool.size(), Tools().size());
  std::cout << "[ decode   ] 1000 tool calls, " << stats.steps << " steps, mean " << total_bytes / 1000
            << " bytes (max " << max_bytes << "), " << tok.vocab_size() << "-token vocab, mask "
            << 1e6 * stats.mask_seconds / stats.steps << " us/step, total " << seconds << " s\n";
}

// Speed of one decode step on a 4096-token vocabulary (printed, not asserted).
TEST(JsonTokenConstraintTest, MaskTimeOn4096Vocab) {
  const Tokenizer& tok = Vocab(4096);
  const auto t0 = std::chrono::steady_clock::now();
  const auto trie = TokenTrie::FromTokenizer(tok);
  const double build_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<std::string> bytes = TokenBytes(tok);
  const std::vector<uint8_t> closer = Closers(bytes, tok.special_ids().tool_call_end);
  const int32_t end = tok.special_ids().tool_call_end;
  DecodeStats stats;
  for (int run = 0; run < 20; ++run) {
    std::mt19937 rng(run);
    auto c = TokenConstraint::Create(Make(ToolCallSchema(Tools())), trie, {end});
    ASSERT_TRUE(c.ok());
    Decode(*c, bytes, closer, end, rng, 120, &stats);
  }
  EXPECT_EQ(stats.empty_masks, 0);
  // For scale: the naive mask (every token through CanAccept) on the first state.
  JsonSchemaMatcher m = Make(ToolCallSchema(Tools()));
  ASSERT_TRUE(m.AcceptBytes(R"({"name": "search", "arguments": {"query": "ab)"));
  const auto t1 = std::chrono::steady_clock::now();
  int allowed = 0;
  for (const std::string& b : bytes) allowed += !b.empty() && m.CanAccept(b);
  const double naive_us = 1e6 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::cout << "[ mask     ] vocab " << tok.vocab_size() << ", trie " << trie->num_nodes() << " nodes (built in "
            << build_ms << " ms), " << stats.steps << " steps: " << 1e6 * stats.mask_seconds / stats.steps
            << " us/step mean, " << 1e6 * stats.Percentile(0.5) << " median, " << 1e6 * stats.Percentile(0.99)
            << " p99; naive CanAccept per token: " << naive_us << " us (" << allowed << " allowed)\n";
}


}  // namespace
}  // namespace tide::engine
