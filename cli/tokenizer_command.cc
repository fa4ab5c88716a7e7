#include "tokenizer_command.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/engine/bpe_trainer.h"
#include "tide/engine/chat_template.h"
#include "tide/engine/tokenizer_json.h"

namespace tide::cli {
namespace {

constexpr size_t kChunkBytes = 4 << 20;

bool IsSpaceByte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Where a chunk of plain text may end without changing pre-tokenization: right before a
// newline that follows a non-space byte (the word before it ends there either way, and the
// whitespace run starts there either way). 0 if there is no such place.
size_t SafeCut(const std::string& buffer) {
  for (size_t i = buffer.size(); i-- > 1;) {
    if (buffer[i] == '\n' && !IsSpaceByte(buffer[i - 1])) return i;
  }
  return 0;
}

Status FeedPlainText(std::ifstream& in, engine::BpeTrainer* trainer) {
  std::string buffer;
  std::string chunk(kChunkBytes, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    buffer.append(chunk.data(), static_cast<size_t>(in.gcount()));
    if (!in) break;
    const size_t cut = SafeCut(buffer);
    if (cut == 0 && buffer.size() < 4 * kChunkBytes) continue;  // a very long line: keep reading
    const size_t end = cut == 0 ? buffer.size() : cut;
    trainer->Add(std::string_view(buffer).substr(0, end));
    buffer.erase(0, end);
  }
  if (in.bad()) return IoError("read failed");
  trainer->Add(buffer);
  return Status::Ok();
}

Status FeedJsonLine(const std::string& line, engine::BpeTrainer* trainer) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    return InvalidArgument(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return InvalidArgument("not a JSON object");
  if (auto text = j.find("text"); text != j.end()) {
    if (!text->is_string()) return InvalidArgument("field \"text\": must be a string");
    trainer->Add(text->get_ref<const std::string&>());
    return Status::Ok();
  }
  if (auto messages = j.find("messages"); messages != j.end()) {
    const nlohmann::json tools = j.value("tools", nlohmann::json());
    Result<std::string> rendered = engine::RenderChat(*messages, tools);
    if (!rendered.ok()) return rendered.status();
    trainer->Add(*rendered);
    return Status::Ok();
  }
  return InvalidArgument("no \"text\" or \"messages\" field");
}

Status FeedJsonLines(std::ifstream& in, const std::string& path, engine::BpeTrainer* trainer) {
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (Status s = FeedJsonLine(line, trainer); !s.ok()) return s.WithContext(path + ":" + std::to_string(number));
  }
  if (in.bad()) return IoError(path + ": read failed");
  return Status::Ok();
}

bool LooksLikeJsonLines(const std::string& path) {
  if (EndsWith(path, ".jsonl") || EndsWith(path, ".ndjson")) return true;
  std::ifstream in(path, std::ios::binary);
  std::string first;
  if (!std::getline(in, first) || first.empty() || first[0] != '{') return false;
  const nlohmann::json j = nlohmann::json::parse(first, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && (j.contains("text") || j.contains("messages"));
}

int Fail(const Status& s) {
  std::cerr << "tide: error: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

}  // namespace

int RunTokenizerTrain(const std::string& input_path, int vocab_size, const std::string& out_path) {
  const auto start = std::chrono::steady_clock::now();
  engine::BpeTrainOptions options;
  const size_t reserved = 256 + options.added_tokens.size();
  if (vocab_size < 0 || static_cast<size_t>(vocab_size) < reserved) {
    return Fail(InvalidArgument("--vocab-size must be at least " + std::to_string(reserved) + " (256 bytes + " +
                                std::to_string(options.added_tokens.size()) + " added tokens), got " +
                                std::to_string(vocab_size)));
  }
  options.vocab_size = vocab_size;
  engine::BpeTrainer trainer(options);

  std::ifstream in(input_path, std::ios::binary);
  if (!in) return Fail(NotFound(input_path + ": cannot open input"));
  const bool jsonl = LooksLikeJsonLines(input_path);
  Status fed = jsonl ? FeedJsonLines(in, input_path, &trainer) : FeedPlainText(in, &trainer);
  if (!fed.ok()) return Fail(jsonl ? fed : fed.WithContext(input_path));

  engine::BpeTrainStats stats;
  Result<engine::Tokenizer> tokenizer = trainer.Train(&stats);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  if (Status s = engine::SaveTokenizerJson(*tokenizer, out_path); !s.ok()) return Fail(s);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int added = static_cast<int>(tokenizer->added_tokens().size());
  const int merged = stats.vocab_size - 256 - added;
  char line[512];
  std::snprintf(line, sizeof line,
                "tokenizer: vocab %d (256 bytes + %d merged + %d added; %d merges), %.2f MB (%s) in %.2f s "
                "(train %.2f s), %.2f bytes/token -> %s",
                stats.vocab_size, merged, added, stats.merges, static_cast<double>(stats.bytes) / 1e6,
                jsonl ? "jsonl" : "text", seconds, stats.seconds, stats.bytes_per_token(), out_path.c_str());
  std::cout << line << std::endl;
  return 0;
}

}  // namespace tide::cli
