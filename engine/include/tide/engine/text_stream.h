// TextStream: generated token ids → text deltas for streaming. Bytes are released only as
// whole UTF-8 characters, and text that could be the start of a stop string is held back
// until it is known not to be one; when a stop string completes, the text before it is
// released and nothing after it ever is (OpenAI `stop` semantics: the stop string is not
// part of the output).
// Ownership: borrows the tokenizer (it must outlive the stream).
// Thread safety: one stream per sequence; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tide/engine/tokenizer.h"

namespace tide::engine {

class TextStream {
 public:
  // skip_special: special tokens (<|im_end|>, not <tool_call>) add no text; their ids still
  // count as generated. An id that is not a token adds nothing.
  TextStream(const Tokenizer* tokenizer, std::vector<std::string> stops, bool skip_special = true);

  // Adds one token; returns the text it releases. *stopped becomes true when a stop string
  // completed (then the returned text ends just before it). After a stop, Add returns "".
  std::string Add(int32_t token, bool* stopped);
  // The end of generation: releases whatever is held back (a partial stop string, an
  // incomplete UTF-8 tail) unless the stream stopped.
  std::string Flush();

  const std::string& released() const { return released_; }
  bool stopped() const { return stopped_; }

 private:
  std::string Release(size_t n);

  const Tokenizer* tokenizer_;
  std::vector<std::string> stops_;
  bool skip_special_;
  std::string pending_;
  std::string released_;
  bool stopped_ = false;
};

// Bytes at the end of `s` that begin a UTF-8 character not yet complete (0..3).
size_t IncompleteUtf8Tail(std::string_view s);

}  // namespace tide::engine
