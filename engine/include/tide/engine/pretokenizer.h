// Byte-level pre-tokenization, GPT-2 style: the first stage of a byte-level BPE tokenizer.
//
// PreTokenize splits text into pieces that BPE then encodes one at a time (merges never
// cross a piece boundary). The rules are those of the GPT-2 regular expression
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// tried in that order at each position, on bytes: letters are ASCII letters and every
// byte >= 0x80 (so a UTF-8 word, accents and CJK included, stays whole; so do non-ASCII
// spaces such as U+00A0), digits are ASCII 0-9, whitespace is ASCII space, \t, \n, \v,
// \f and \r. Contractions are matched case-sensitively. As in GPT-2, a whitespace run
// followed by a word gives its last space to that word: "a   b" -> "a", "  ", " b".
//
// Guarantees, for any byte string (invalid UTF-8 and NUL bytes included): pieces are
// non-empty, in order, and concatenate to the input exactly; the cost is linear in the
// input; nothing is allocated except the returned vector. Pieces point into `text`, so
// they are valid only while it is. Thread-safe (no state).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace tide::engine {

// The pieces of `text`, in order; empty for empty text.
std::vector<std::string_view> PreTokenize(std::string_view text);

// PreTokenize(text).size(), without building the vector. A cheap proxy for token counts
// (budgets, context limits) when no tokenizer is loaded.
size_t CountPreTokens(std::string_view text);

}  // namespace tide::engine
