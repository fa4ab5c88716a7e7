// Text from a byte-level model can hold any byte, but protobuf string fields and
// nlohmann::json's dump() require UTF-8 (dump() throws on anything else). ValidUtf8 makes
// such text safe to store, send and serialise.
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace tide {

// `s` with each maximal ill-formed part (a byte that starts no sequence, or the start of a
// sequence cut short: truncated, overlong, a surrogate, past U+10FFFF) replaced by one
// U+FFFD, as Unicode recommends and as nlohmann::json's dump() with error_handler_t::
// replace does, so text cleaned here and text dumped there agree; valid text is unchanged.
std::string ValidUtf8(std::string_view s);

}  // namespace tide
