// `tide tokenizer train`: trains Tide's byte-level BPE tokenizer (engine/bpe_trainer.h) on
// a corpus and writes it as a Hugging Face tokenizer.json (engine/tokenizer_json.h).
//
// Input: plain text, or JSONL (a ".jsonl"/".ndjson" file, or one whose first line is a
// JSON object with "text" or "messages"): one object a line, with "text" (a string), or
// "messages" (+ optional "tools") in the OpenAI fine-tuning shape, rendered with the chat
// template first so the tokenizer learns the text the model will see. ChatML and tool
// markers become added tokens and are never merged into. Plain text is read in chunks cut
// where pre-tokenization would cut anyway, so memory stays proportional to the distinct
// words, not the file.
//
// Prints one line: vocabulary (bytes + merges + added tokens), bytes read, seconds, and
// the compression of the training text in bytes per token. Exit codes as everywhere in
// the CLI: 0 success, 1 failure, 2 bad input (missing file, malformed line, bad size).
#pragma once

#include <string>

namespace tide::cli {

int RunTokenizerTrain(const std::string& input_path, int vocab_size, const std::string& out_path);

}  // namespace tide::cli
