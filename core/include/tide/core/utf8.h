// Text from a byte-level model can hold any byte, but protobuf string fields and
// nlohmann::json's dump() require UTF-8 (dump() throws on anything else). ValidUtf8 makes
// such text safe to store, send and serialise.
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace tide {

// `s` with every byte that does not start a valid UTF-8 sequence (truncated, overlong, a
// surrogate, past U+10FFFF) replaced by U+FFFD; valid text comes back unchanged.
std::string ValidUtf8(std::string_view s);

}  // namespace tide
