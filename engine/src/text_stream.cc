#include "tide/engine/text_stream.h"

#include <algorithm>
#include <utility>

namespace tide::engine {

size_t IncompleteUtf8Tail(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return need > back ? back : 0;
  }
  return 0;  // only continuation bytes: invalid, release them as they are
}

TextStream::TextStream(const Tokenizer* tokenizer, std::vector<std::string> stops, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string TextStream::Release(size_t n) {
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  released_ += out;
  return out;
}

std::string TextStream::Add(int32_t token, bool* stopped) {
  *stopped = stopped_;
  if (stopped_) return "";
  // The tokenizer's own rule: special added tokens (<|im_end|>) drop out, others (<tool_call>) stay.
  const int32_t one[] = {token};
  Result<std::string> bytes = tokenizer_->Decode(one, skip_special_);
  if (bytes.ok()) pending_ += *bytes;
  // The earliest completed stop string wins.
  size_t stop_at = std::string::npos;
  for (const std::string& s : stops_) stop_at = std::min(stop_at, pending_.find(s));
  if (stop_at != std::string::npos) {
    std::string out = Release(stop_at);
    pending_.clear();
    stopped_ = true;
    *stopped = true;
    return out;
  }
  // Hold back the longest tail that is a proper prefix of a stop string.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t len = std::min(s.size() - 1, pending_.size()); len > hold; --len) {
      if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  const size_t ready = pending_.size() - hold;
  return Release(ready - IncompleteUtf8Tail(std::string_view(pending_).substr(0, ready)));
}

std::string TextStream::Flush() {
  if (stopped_) return "";
  return Release(pending_.size());
}

}  // namespace tide::engine
