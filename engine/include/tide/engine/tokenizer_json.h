// Hugging Face tokenizer.json for byte-level BPE: reading and writing (DESIGN.md "Formats").
//
// Written files have the layout `tokenizers` writes for a GPT-2 / Qwen style tokenizer:
// "version", "truncation": null, "padding": null, "added_tokens" [{id, content,
// single_word, lstrip, rstrip, normalized, special}], "normalizer": null,
// "pre_tokenizer" / "post_processor" / "decoder" of type ByteLevel, and "model" {type:
// "BPE", vocab {token: id} in id order, merges ["a b", ...] in rank order, ...}, tokens
// spelled in the ByteLevel alphabet. `tokenizers` and `transformers` load them as is.
//
// Reading accepts what `tokenizers` writes for such a model: merges as "a b" strings or
// as the newer ["a", "b"] pairs; absent optional fields; ignore_merges. The parts that
// would change the tokens are checked and refused when Tide cannot honour them
// (UNIMPLEMENTED): a normalizer, a pre-tokenizer other than plain ByteLevel (with
// add_prefix_space false), a decoder other than ByteLevel, BPE dropout, subword prefixes
// or suffixes, byte fallback. Not applied: the post_processor (Encode never adds BOS/EOS)
// and the lstrip/rstrip/single_word/normalized flags of added tokens (matching is exact).
// Every error names the source (the path) and the field: "t.json: model.merges[7]: ...".
//
// Thread safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {

// NOT_FOUND if the file is missing; INVALID_ARGUMENT / UNIMPLEMENTED as above.
Result<Tokenizer> LoadTokenizerJson(const std::string& path);
// `source` names the text in errors (a path, "request").
Result<Tokenizer> ParseTokenizerJson(std::string_view text, std::string_view source);
Result<Tokenizer> TokenizerFromJson(const nlohmann::json& j, std::string_view source);

// The file's text (2-space indent, as `tokenizers` saves with pretty=true).
// INVALID_ARGUMENT if an added token's content is not valid UTF-8 (JSON cannot hold it).
Result<std::string> TokenizerToJsonText(const Tokenizer& tokenizer);
// Writes atomically (a temporary file in the same folder, then a rename).
Status SaveTokenizerJson(const Tokenizer& tokenizer, const std::string& path);

}  // namespace tide::engine
