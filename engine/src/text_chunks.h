// Internal to tide_engine: cutting long text into chunks that PreTokenize splits exactly as
// it splits the whole text, so callers can pre-tokenize in pieces of bounded size (the
// vector of pieces stays small and warm in cache).
//
// A cut right before a whitespace byte that follows a non-whitespace byte is safe: the
// piece holding that non-whitespace byte (a contraction or a run of one class, optionally
// led by a space) ends there whether or not the text goes on, and pre-tokenization of the
// rest does not look back. Thread-safe (no state).
#pragma once

#include <cstddef>
#include <string_view>

namespace tide::engine::internal {

inline bool IsPreTokenSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Calls fn(chunk) for consecutive chunks of `text` that together make it up; each is at
// least `target` bytes unless it is the last or no safe cut comes sooner.
template <typename Fn>
void ForEachPreTokenChunk(std::string_view text, size_t target, const Fn& fn) {
  while (text.size() > target) {
    size_t cut = target;
    while (cut < text.size() && !(IsPreTokenSpace(text[cut]) && !IsPreTokenSpace(text[cut - 1]))) ++cut;
    fn(text.substr(0, cut));
    text.remove_prefix(cut);
  }
  if (!text.empty()) fn(text);
}

}  // namespace tide::engine::internal
