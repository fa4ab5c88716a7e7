// Language-model training data: JSONL files turned into token streams with per-token loss
// weights, packed into fixed-length training windows.
//
// Each line is {"text": "..."} (every token is learned) or an OpenAI chat
// {"messages": [...], "tools": [...]} rendered with the chat template, where only the
// assistant turns are learned (their content, tool calls and closing <|im_end|>; the
// "<|im_start|>assistant\n" header, system, user and tool turns get weight 0). Examples
// end with <|endoftext|> and are packed into windows of seq_len + 1 tokens; window i
// learns tokens[1..] from tokens[..seq_len] with weights[1..]. PackWindows streams (an
// example may straddle windows); PackWholeExamples keeps each example inside one window,
// which chat SFT needs: a turn that copies a name must see where the name came from.
// Thread safety: plain values; functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {

struct LmExample {
  std::vector<int32_t> tokens;
  std::vector<float> weights;  // weights[i]: how much predicting tokens[i] counts
};

// One JSONL record; INVALID_ARGUMENT naming the field for a record of neither shape.
Result<LmExample> EncodeRecord(const Tokenizer& tokenizer, const nlohmann::json& record);

// Every line of a JSONL file (blank lines skipped); errors name the file and line.
Result<std::vector<LmExample>> LoadJsonlExamples(const Tokenizer& tokenizer, const std::string& path);

struct LmWindow {
  std::vector<int32_t> inputs;   // seq_len tokens
  std::vector<int32_t> targets;  // seq_len tokens: inputs shifted by one
  std::vector<float> weights;    // seq_len
  // Lengths of the independent documents the inputs hold, back to back (summing to
  // seq_len): each attends only within itself and its positions restart at 0, as the
  // example would be served. Empty: the window is one sequence (stream packing).
  std::vector<int32_t> segments;
};

// Packs examples (in order) into windows; the tail shorter than a window is dropped,
// windows with no weighted target are skipped.
std::vector<LmWindow> PackWindows(const std::vector<LmExample>& examples, int seq_len, int32_t separator);

struct PackStats {
  size_t examples = 0;
  size_t split_examples = 0;  // longer than a window: cut into window-sized pieces
  size_t tokens = 0;          // example tokens, separators included
  size_t padding = 0;         // separator tokens (weight 0) filling windows' ends
};

// Best-fit-decreasing packing of whole examples (each plus its separator) into windows;
// the rest of a window is separator padding with weight 0. An example longer than a
// window is cut as PackWindows would and its pieces packed like examples. Each window's
// segments are its examples (and the padding tail), so no example attends to another.
// Deterministic; windows with no weighted target are skipped.
std::vector<LmWindow> PackWholeExamples(const std::vector<LmExample>& examples, int seq_len, int32_t separator,
                                        PackStats* stats = nullptr);

}  // namespace tide::engine
