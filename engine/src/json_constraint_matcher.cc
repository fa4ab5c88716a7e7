// JsonSchemaMatcher: the byte-level pushdown matcher (schemas are compiled in
// json_constraint.cc).
//
// The matcher state is a set of threads, each a stack of frames (root, object, key, array,
// string, number, literal); an anyOf value start forks one thread per leaf branch,
// failing threads are dropped and identical threads merged, so alternatives that agree
// again (after the anyOf value ends) cost nothing. Every transition keeps each live thread
// completable: see the guarantee in json_constraint.h and the checks marked "completable".
#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tide/engine/json_constraint.h"

namespace tide::engine {
namespace {

using namespace json_constraint_detail;  // NOLINT: Frame, State, Schema, Node, type bits

constexpr size_t kMaxFrames = 64;   // per thread; containers open while below kMaxFrames - 2
constexpr size_t kMaxThreads = 64;  // live alternatives kept (the first ones, in order)
constexpr int kMaxNumberBytes = 24;
constexpr int kMaxIntegerBytes = 19;  // "-" and 18 digits: always an int64
constexpr int kMaxExponentDigits = 2;
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

enum Mode : uint8_t { kRoot, kObject, kKey, kArray, kString, kNumber, kLiteral };
enum : uint8_t { kRootBefore, kRootIn, kRootAfter };
enum : uint8_t { kObjOpen, kObjKey, kObjColon, kObjValue, kObjAfterValue, kObjComma };
enum : uint8_t { kArrOpen, kArrItem, kArrAfterItem, kArrComma };
enum : uint8_t { kStrNormal, kStrEscape, kStrHex, kStrLowBackslash, kStrLowU, kStrLowHex };
enum : uint8_t { kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumE, kNumESign, kNumExp };
enum : uint8_t { kKeyFree = 1, kKeyEscape = 2 };  // key phase bits

// ---------------------------------------------------------------------------------------
// Byte classes

bool IsWs(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }
int HexValue(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// UTF-8 progress in a frame's aux: low 2 bits = continuation bytes still due, bits 2..4 =
// the range the next one must be in (Unicode table 3-7: no overlongs, surrogates, >U+10FFFF).
int Utf8Lead(uint8_t c) {
  if (c < 0xC2) return -1;
  if (c <= 0xDF) return 1;
  if (c == 0xE0) return 2 | (1 << 2);
  if (c <= 0xEC) return 2;
  if (c == 0xED) return 2 | (2 << 2);
  if (c <= 0xEF) return 2;
  if (c == 0xF0) return 3 | (3 << 2);
  if (c <= 0xF3) return 3;
  if (c == 0xF4) return 3 | (4 << 2);
  return -1;
}
int Utf8Cont(uint8_t aux, uint8_t c) {
  static constexpr uint8_t kLo[] = {0x80, 0xA0, 0x80, 0x90, 0x80};
  static constexpr uint8_t kHi[] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
  const int r = aux >> 2;
  if (c < kLo[r] || c > kHi[r]) return -1;
  return (aux & 3) - 1;
}

struct ByteSets {
  ByteSet ws, delims, number, string, escape, hex, cont, all;
  ByteSets() {
    ws.Add(" \t\n\r");
    delims = ws;
    delims.Add(",}]");
    number.Add("0123456789.eE+-");
    string.AddRange(0x20, 0x7F);
    string.AddRange(0xC2, 0xF4);
    escape.Add("\"\\/bfnrtu");
    hex.Add("0123456789abcdefABCDEF");
    cont.AddRange(0x80, 0xBF);
    all.AddRange(0, 255);
  }
};
const ByteSets& Sets() {
  static const ByteSets sets;
  return sets;
}

// ---------------------------------------------------------------------------------------
// Transitions

bool NumberComplete(uint8_t phase) {
  return phase == kNumZero || phase == kNumInt || phase == kNumFrac || phase == kNumExp;
}

// The phase after byte c, or -1.
int NumberNext(uint8_t phase, uint8_t exp_digits, uint8_t c, bool integer_only) {
  const bool digit = IsDigit(c);
  const bool dot = c == '.' && !integer_only;
  const bool e = (c == 'e' || c == 'E') && !integer_only;
  switch (phase) {
    case kNumMinus: return c == '0' ? kNumZero : digit ? kNumInt : -1;
    case kNumZero: return dot ? kNumDot : e ? kNumE : -1;
    case kNumInt: return digit ? kNumInt : dot ? kNumDot : e ? kNumE : -1;
    case kNumDot: return digit ? kNumFrac : -1;
    case kNumFrac: return digit ? kNumFrac : e ? kNumE : -1;
    case kNumE: return (c == '+' || c == '-') ? kNumESign : digit ? kNumExp : -1;
    case kNumESign: return digit ? kNumExp : -1;
    case kNumExp: return digit && exp_digits < kMaxExponentDigits ? kNumExp : -1;
    default: return -1;
  }
}

// Narrows the sorted range [*lo, *hi) of strings sharing a prefix of length pos to those
// whose byte at pos is c; false (unchanged) when none.
bool Narrow(const std::vector<std::string>& v, int32_t* lo, int32_t* hi, int32_t pos, uint8_t c) {
  const size_t p = static_cast<size_t>(pos);
  int32_t l = *lo;
  while (l < *hi && !(v[l].size() > p && static_cast<uint8_t>(v[l][p]) == c)) ++l;
  if (l == *hi) return false;
  int32_t h = l + 1;
  while (h < *hi && v[h].size() > p && static_cast<uint8_t>(v[h][p]) == c) ++h;
  *lo = l;
  *hi = h;
  return true;
}

void ChildDone(Frame& parent) {
  switch (parent.mode) {
    case kRoot: parent.phase = kRootAfter; break;
    case kObject: parent.phase = kObjAfterValue; break;
    case kArray:
      ++parent.count;
      parent.phase = kArrAfterItem;
      break;
    default: break;
  }
}

static_assert(std::is_trivial_v<Frame> && sizeof(Frame) == 32);

Frame MakeFrame(uint8_t mode, int32_t node) {
  Frame f{};
  f.mode = mode;
  f.node = node;
  return f;
}

class Machine {
 public:
  // The thread is fr[fb..] and the tail of keys (its keys start at the thread's own base).
  Machine(const Schema& s, std::vector<Frame>& fr, size_t fb, std::vector<uint64_t>& keys)
      : s_(s), fr_(fr), fb_(fb), keys_(keys) {}

  enum class Fed { kReject, kOk, kValue };

  // Feeds c to the thread at the tail of fr_. kValue: a value of *value_node must start
  // with c (the parent is already in its "value in progress" phase).
  Fed Feed(uint8_t c, int32_t* value_node) {
    for (;;) {
      Frame& t = fr_.back();
      switch (t.mode) {
        case kNumber: {
          const int r = NumberByte(t, c);
          if (r != 0) return r > 0 ? Fed::kOk : Fed::kReject;
          Pop();
          continue;
        }
        case kLiteral: {
          const int r = LiteralByte(t, c);
          if (r == 0) {
            Pop();
            continue;
          }
          if (r < 0) return Fed::kReject;
          FinishLiteral();
          return Fed::kOk;
        }
        case kString: return StringByte(c) ? Fed::kOk : Fed::kReject;
        case kKey: return KeyByte(c) ? Fed::kOk : Fed::kReject;
        case kRoot: return RootByte(t, c, value_node);
        case kObject: return ObjectByte(c, value_node);
        case kArray: return ArrayByte(c, value_node);
        default: return Fed::kReject;
      }
    }
  }

  // Starts a value of leaf node `node` with byte c.
  bool StartLeaf(int32_t node, uint8_t c) {
    const Node& n = s_.nodes[node];
    if (n.lit_begin >= 0) return StartLiteral(node, n.lit_begin, n.lit_end, c);
    const bool room = fr_.size() - fb_ < kMaxFrames - 2;  // completable: a key and a scalar still fit
    switch (c) {
      case '{':
        if (!(n.types & kTObject) || !room) return false;
        fr_.push_back(MakeFrame(kObject, node));
        return true;
      case '[':
        if (!(n.types & kTArray) || !room) return false;
        fr_.push_back(MakeFrame(kArray, node));
        return true;
      case '"':
        if (!(n.types & kTString)) return false;
        fr_.push_back(MakeFrame(kString, node));
        return true;
      case 't':
      case 'f': return (n.types & kTBoolean) && StartLiteral(node, 0, 2, c);
      case 'n': return (n.types & kTNull) && StartLiteral(node, 2, 3, c);
      default: break;
    }
    if (!(n.types & (kTNumber | kTInteger)) || !(c == '-' || IsDigit(c))) return false;
    Frame f = MakeFrame(kNumber, node);
    f.phase = c == '-' ? kNumMinus : c == '0' ? kNumZero : kNumInt;
    f.count = 1;
    fr_.push_back(f);
    return true;
  }

 private:
  void Pop() {
    fr_.pop_back();
    ChildDone(fr_.back());
  }

  bool StartLiteral(int32_t node, int32_t lo, int32_t hi, uint8_t c) {
    if (!Narrow(s_.literals, &lo, &hi, 0, c)) return false;
    Frame f = MakeFrame(kLiteral, node);
    f.a = lo;
    f.b = hi;
    f.count = 1;
    fr_.push_back(f);
    FinishLiteral();
    return true;
  }

  // A literal that has been read whole and that no other candidate extends ends at once
  // (so that threads that agree from here on merge a byte earlier).
  void FinishLiteral() {
    const Frame& t = fr_.back();
    if (t.b - t.a == 1 && s_.literals[t.a].size() == static_cast<size_t>(t.count)) Pop();
  }

  // 1: consumed; 0: the number is complete and c belongs to the parent; -1: reject.
  int NumberByte(Frame& t, uint8_t c) {
    const bool integer_only = !(s_.nodes[t.node].types & kTNumber);
    const int cap = integer_only ? kMaxIntegerBytes : kMaxNumberBytes;
    const int next = NumberNext(t.phase, t.aux, c, integer_only);
    // Completable: an incomplete number needs exactly one more digit.
    if (next >= 0 && (t.count + 1 < cap || (t.count + 1 == cap && NumberComplete(next)))) {
      t.aux = next == kNumExp ? (t.phase == kNumExp ? t.aux + 1 : 1) : 0;
      t.phase = static_cast<uint8_t>(next);
      ++t.count;
      return 1;
    }
    return NumberComplete(t.phase) ? 0 : -1;
  }

  int LiteralByte(Frame& t, uint8_t c) {
    int32_t lo = t.a, hi = t.b;
    if (Narrow(s_.literals, &lo, &hi, t.count, c)) {
      t.a = lo;
      t.b = hi;
      ++t.count;
      return 1;
    }
    return s_.literals[t.a].size() == static_cast<size_t>(t.count) ? 0 : -1;
  }

  bool StringByte(uint8_t c) {
    Frame& t = fr_.back();
    const Node& n = s_.nodes[t.node];
    switch (t.phase) {
      case kStrNormal: {
        if (t.aux != 0) {
          const int r = Utf8Cont(t.aux, c);
          if (r < 0) return false;
          t.aux = static_cast<uint8_t>(r);
          return true;
        }
        if (c == '"') {
          if (t.count < n.min_len) return false;
          Pop();
          return true;
        }
        if (t.count >= n.max_len) return false;
        if (c == '\\') {
          ++t.count;
          t.phase = kStrEscape;
          return true;
        }
        if (c < 0x20) return false;
        if (c < 0x80) {
          ++t.count;
          return true;
        }
        const int lead = Utf8Lead(c);
        if (lead < 0) return false;
        ++t.count;
        t.aux = static_cast<uint8_t>(lead);
        return true;
      }
      case kStrEscape:
        switch (c) {
          case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            t.phase = kStrNormal;
            return true;
          case 'u':
            t.phase = kStrHex;
            t.aux = 0;
            t.a = 0;
            return true;
          default: return false;
        }
      case kStrHex: {
        const int h = HexValue(c);
        if (h < 0) return false;
        t.a = t.a * 16 + h;
        ++t.aux;
        if (t.aux == 2 && t.a >= 0xDC && t.a <= 0xDF) return false;  // a low surrogate alone
        if (t.aux == 4) {
          t.phase = (t.a >= 0xD800 && t.a <= 0xDBFF) ? kStrLowBackslash : kStrNormal;
          t.aux = 0;
          t.a = 0;
        }
        return true;
      }
      case kStrLowBackslash:
        if (c != '\\') return false;
        t.phase = kStrLowU;
        return true;
      case kStrLowU:
        if (c != 'u') return false;
        t.phase = kStrLowHex;
        t.aux = 0;
        return true;
      case kStrLowHex: {
        const int h = HexValue(c);
        if (h < 0 || (t.aux == 0 && h != 0xD) || (t.aux == 1 && h < 0xC)) return false;
        if (++t.aux == 4) {
          t.phase = kStrNormal;
          t.aux = 0;
        }
        return true;
      }
      default: return false;
    }
  }

  bool UnseenIn(const Frame& obj, int32_t lo, int32_t hi) const {
    for (int32_t i = lo; i < hi; ++i) {
      if (!((obj.bits >> i) & 1)) return true;
    }
    return false;
  }

  bool KeyByte(uint8_t c) {
    Frame& t = fr_.back();
    const Frame& obj = fr_[fr_.size() - 2];
    const Node& n = s_.nodes[t.node];
    const bool in_escape = t.phase & kKeyEscape;
    if (c == '"' && !in_escape) {
      int32_t prop = -1;
      const uint64_t hash = t.bits;
      if (t.a < t.b && n.names[t.a].size() == static_cast<size_t>(t.count)) {
        if ((obj.bits >> t.a) & 1) return false;  // duplicate key
        prop = t.a;
      } else {
        if (!(t.phase & kKeyFree) || t.aux != 0) return false;
        const auto begin = keys_.end() - obj.count;
        if (std::find(begin, keys_.end(), hash) != keys_.end()) return false;  // duplicate key
      }
      fr_.pop_back();
      Frame& o = fr_.back();
      if (prop >= 0) {
        o.bits |= uint64_t{1} << prop;
        o.a = n.prop_nodes[prop];
      } else {
        keys_.push_back(hash);
        ++o.count;
        o.a = n.additional;
      }
      o.phase = kObjKey;
      return true;
    }
    int32_t lo = t.a, hi = t.b;
    bool listed = false;
    if (lo < hi && Narrow(n.names, &lo, &hi, t.count, c)) {
      listed = UnseenIn(obj, lo, hi);  // completable: an unseen name still has this prefix
    } else {
      lo = hi = 0;
    }
    bool free_ok = false;
    uint8_t aux = t.aux;
    if (t.phase & kKeyFree) {
      if (in_escape) {
        free_ok = c == '"' || c == '\\';
      } else if (aux != 0) {
        const int r = Utf8Cont(aux, c);
        free_ok = r >= 0;
        aux = static_cast<uint8_t>(free_ok ? r : 0);
      } else if (c < 0x80) {
        free_ok = c >= 0x20;
      } else {
        const int r = Utf8Lead(c);
        free_ok = r >= 0;
        aux = static_cast<uint8_t>(free_ok ? r : 0);
      }
    }
    if (!listed && !free_ok) return false;
    t.a = lo;
    t.b = hi;
    t.aux = free_ok ? aux : 0;
    t.phase = static_cast<uint8_t>((free_ok ? kKeyFree : 0) | (!in_escape && c == '\\' ? kKeyEscape : 0));
    t.bits = (t.bits ^ c) * kFnvPrime;
    ++t.count;
    return true;
  }

  Fed RootByte(Frame& t, uint8_t c, int32_t* value_node) {
    if (IsWs(c)) {
      if (t.ws) return Fed::kReject;
      t.ws = 1;
      return Fed::kOk;
    }
    if (t.phase != kRootBefore) return Fed::kReject;
    t.ws = 0;
    t.phase = kRootIn;
    *value_node = s_.root;
    return Fed::kValue;
  }

  bool MoreKeys(const Node& n, const Frame& t) const {
    return n.additional >= 0 || UnseenIn(t, 0, static_cast<int32_t>(n.names.size()));
  }

  Fed ObjectByte(uint8_t c, int32_t* value_node) {
    Frame& t = fr_.back();
    const Node& n = s_.nodes[t.node];
    if (IsWs(c)) {
      if (t.ws) return Fed::kReject;
      t.ws = 1;
      return Fed::kOk;
    }
    t.ws = 0;
    switch (t.phase) {
      case kObjOpen:
      case kObjComma:
        if (c == '"' && MoreKeys(n, t)) {
          Frame k = MakeFrame(kKey, t.node);
          k.b = static_cast<int32_t>(n.names.size());
          k.bits = kFnvOffset;
          k.phase = n.additional >= 0 ? kKeyFree : 0;
          fr_.push_back(k);
          return Fed::kOk;
        }
        if (c == '}' && t.phase == kObjOpen) return CloseObject();
        return Fed::kReject;
      case kObjKey:
        if (c != ':') return Fed::kReject;
        t.phase = kObjColon;
        return Fed::kOk;
      case kObjColon:
        t.phase = kObjValue;
        *value_node = t.a;
        return Fed::kValue;
      case kObjAfterValue:
        if (c == ',') {
          if (!MoreKeys(n, t)) return Fed::kReject;  // completable: a key must follow
          t.phase = kObjComma;
          return Fed::kOk;
        }
        if (c == '}') return CloseObject();
        return Fed::kReject;
      default: return Fed::kReject;
    }
  }

  Fed CloseObject() {
    const Frame& t = fr_.back();
    if (s_.nodes[t.node].required & ~t.bits) return Fed::kReject;
    keys_.resize(keys_.size() - static_cast<size_t>(t.count));
    Pop();
    return Fed::kOk;
  }

  Fed ArrayByte(uint8_t c, int32_t* value_node) {
    Frame& t = fr_.back();
    const Node& n = s_.nodes[t.node];
    if (IsWs(c)) {
      if (t.ws) return Fed::kReject;
      t.ws = 1;
      return Fed::kOk;
    }
    t.ws = 0;
    switch (t.phase) {
      case kArrOpen:
        if (c == ']') {
          if (n.min_items > 0) return Fed::kReject;
          Pop();
          return Fed::kOk;
        }
        if (n.max_items == 0) return Fed::kReject;
        t.phase = kArrItem;
        *value_node = n.items;
        return Fed::kValue;
      case kArrAfterItem:
        if (c == ',' && t.count < n.max_items) {
          t.phase = kArrComma;
          return Fed::kOk;
        }
        if (c == ']' && t.count >= n.min_items) {
          Pop();
          return Fed::kOk;
        }
        return Fed::kReject;
      case kArrComma:
        t.phase = kArrItem;
        *value_node = n.items;
        return Fed::kValue;
      default: return Fed::kReject;
    }
  }

  const Schema& s_;
  std::vector<Frame>& fr_;
  size_t fb_;
  std::vector<uint64_t>& keys_;
};

// dst += src[0, n), by memcpy (element-wise vector copies are slow in debug builds).
template <typename T>
void Append(std::vector<T>& dst, const T* src, size_t n) {
  if (n == 0) return;
  const size_t old = dst.size();
  dst.resize(old + n);
  std::memcpy(dst.data() + old, src, n * sizeof(T));
}

void Truncate(State* d, size_t fb, size_t kb) {
  d->frames.resize(fb);
  d->keys.resize(kb);
}

// Keeps the thread at the tail unless an identical one is already there.
void Commit(State* d, size_t fb, size_t kb) {
  const size_t fn = d->frames.size() - fb, kn = d->keys.size() - kb;
  size_t f0 = 0, k0 = 0;
  for (size_t u = 0; u < d->frame_ends.size(); ++u) {
    const size_t f1 = d->frame_ends[u], k1 = d->key_ends[u];
    // Frames have no padding and are always value-initialized: memcmp is equality.
    if (f1 - f0 == fn && k1 - k0 == kn && std::memcmp(&d->frames[f0], &d->frames[fb], fn * sizeof(Frame)) == 0 &&
        (kn == 0 || std::memcmp(&d->keys[k0], &d->keys[kb], kn * sizeof(uint64_t)) == 0)) {
      Truncate(d, fb, kb);
      return;
    }
    f0 = f1;
    k0 = k1;
  }
  if (d->frame_ends.size() >= kMaxThreads) {
    Truncate(d, fb, kb);
    return;
  }
  d->frame_ends.push_back(static_cast<uint32_t>(d->frames.size()));
  d->key_ends.push_back(static_cast<uint32_t>(d->keys.size()));
}

bool Step(const Schema& s, const State& src, uint8_t c, State* d) {
  d->frames.clear();
  d->keys.clear();
  d->frame_ends.clear();
  d->key_ends.clear();
  thread_local std::vector<Frame> saved_frames;
  thread_local std::vector<uint64_t> saved_keys;
  size_t fs = 0, ks = 0;
  for (size_t u = 0; u < src.frame_ends.size(); ++u) {
    const size_t fe = src.frame_ends[u], ke = src.key_ends[u];
    size_t fb = d->frames.size(), kb = d->keys.size();
    Append(d->frames, src.frames.data() + fs, fe - fs);
    Append(d->keys, src.keys.data() + ks, ke - ks);
    fs = fe;
    ks = ke;
    Machine m(s, d->frames, fb, d->keys);
    int32_t value_node = -1;
    const Machine::Fed r = m.Feed(c, &value_node);
    if (r == Machine::Fed::kReject) {
      Truncate(d, fb, kb);
      continue;
    }
    if (r == Machine::Fed::kOk) {
      Commit(d, fb, kb);
      continue;
    }
    const Node& n = s.nodes[value_node];
    if (n.leaves.empty()) {
      if (m.StartLeaf(value_node, c)) {
        Commit(d, fb, kb);
      } else {
        Truncate(d, fb, kb);
      }
      continue;
    }
    // anyOf: one thread per branch that can start with c.
    saved_frames.clear();
    saved_keys.clear();
    Append(saved_frames, d->frames.data() + fb, d->frames.size() - fb);
    Append(saved_keys, d->keys.data() + kb, d->keys.size() - kb);
    Truncate(d, fb, kb);
    for (int32_t leaf : n.leaves) {
      fb = d->frames.size();
      kb = d->keys.size();
      Append(d->frames, saved_frames.data(), saved_frames.size());
      Append(d->keys, saved_keys.data(), saved_keys.size());
      Machine mm(s, d->frames, fb, d->keys);
      if (mm.StartLeaf(leaf, c)) {
        Commit(d, fb, kb);
      } else {
        Truncate(d, fb, kb);
      }
    }
  }
  return !d->frame_ends.empty();
}

State InitialState() {
  State st;
  Frame root{};
  root.mode = kRoot;
  st.frames.push_back(root);
  st.frame_ends.push_back(1);
  st.key_ends.push_back(0);
  return st;
}

}  // namespace

JsonSchemaMatcher::JsonSchemaMatcher(std::shared_ptr<const Schema> schema)
    : schema_(std::move(schema)), state_(InitialState()) {}

void JsonSchemaMatcher::Reset() { state_ = InitialState(); }

bool JsonSchemaMatcher::AcceptTo(uint8_t byte, JsonSchemaMatcher* next) const {
  if (next->schema_ != schema_) next->schema_ = schema_;
  return Step(*schema_, state_, byte, &next->state_);
}

bool JsonSchemaMatcher::Accept(uint8_t byte) {
  thread_local State scratch;
  if (!Step(*schema_, state_, byte, &scratch)) return false;
  std::swap(state_, scratch);
  return true;
}

// Steps through `bytes` from `from`; the final state is in *out (one of two per-thread
// scratch states, reused). False when a byte is rejected.
static bool StepAll(const Schema& s, const State& from, std::string_view bytes, State** out) {
  thread_local State scratch[2];
  const State* cur = &from;
  int next = 0;
  for (unsigned char c : bytes) {
    if (!Step(s, *cur, c, &scratch[next])) return false;
    cur = &scratch[next];
    next ^= 1;
  }
  *out = const_cast<State*>(cur);
  return true;
}

bool JsonSchemaMatcher::AcceptBytes(std::string_view bytes) {
  State* out = nullptr;
  if (!StepAll(*schema_, state_, bytes, &out)) return false;
  if (out != &state_) std::swap(state_, *out);
  return true;
}

bool JsonSchemaMatcher::CanAccept(std::string_view bytes) const {
  State* out = nullptr;
  return StepAll(*schema_, state_, bytes, &out);
}

bool JsonSchemaMatcher::Complete() const {
  const Schema& s = *schema_;
  size_t begin = 0;
  for (size_t u = 0; u < state_.frame_ends.size(); ++u) {
    const size_t end = state_.frame_ends[u];
    size_t i = end - 1;
    bool popped = false;
    if (i > begin) {
      const Frame& f = state_.frames[i];
      if ((f.mode == kNumber && NumberComplete(f.phase)) ||
          (f.mode == kLiteral && s.literals[f.a].size() == static_cast<size_t>(f.count))) {
        --i;
        popped = true;
      }
    }
    const Frame& r = state_.frames[i];
    if (i == begin && (r.phase == kRootAfter || (popped && r.phase == kRootIn))) return true;
    begin = end;
  }
  return false;
}

JsonSchemaMatcher::Hints JsonSchemaMatcher::GetHints() const {
  const Schema& s = *schema_;
  const ByteSets& sets = Sets();
  ByteSet may;
  Hints h;
  // The next bytes of the candidates in a sorted range at position pos.
  auto candidates = [&](const std::vector<std::string>& v, int32_t lo, int32_t hi, int32_t pos, bool* done) {
    for (int32_t i = lo; i < hi; ++i) {
      if (v[i].size() > static_cast<size_t>(pos)) {
        may.Add(static_cast<uint8_t>(v[i][pos]));
      } else {
        *done = true;
      }
    }
  };
  for (size_t u = 0; u < state_.frame_ends.size(); ++u) {
    const Frame& t = state_.frames[state_.frame_ends[u] - 1];
    const Node& n = s.nodes[t.node];
    if ((t.mode == kRoot || t.mode == kObject || t.mode == kArray) && !t.ws) may.Or(sets.ws);
    bool done = false;
    switch (t.mode) {
      case kRoot:
        if (t.phase == kRootBefore) may.Or(s.first[s.root]);
        break;
      case kObject:
        switch (t.phase) {
          case kObjOpen: may.Add("\"}"); break;
          case kObjKey: may.Add(':'); break;
          case kObjColon: may.Or(s.first[t.a]); break;
          case kObjAfterValue: may.Add(",}"); break;
          case kObjComma: may.Add('"'); break;
          default: break;
        }
        break;
      case kArray:
        switch (t.phase) {
          case kArrOpen:
            may.Add(']');
            may.Or(s.first[n.items]);
            break;
          case kArrAfterItem: may.Add(",]"); break;
          case kArrComma: may.Or(s.first[n.items]); break;
          default: break;
        }
        break;
      case kNumber:
        may.Or(sets.number);
        if (NumberComplete(t.phase)) may.Or(sets.delims);
        break;
      case kLiteral:
        candidates(s.literals, t.a, t.b, t.count, &done);
        if (done) may.Or(sets.delims);
        break;
      case kString:
        switch (t.phase) {
          case kStrNormal:
            if (t.aux != 0) {
              may.Or(sets.cont);
            } else {
              may.Or(sets.string);
              h.plain_run = std::max(h.plain_run, n.max_len == INT32_MAX ? INT32_MAX : n.max_len - t.count);
            }
            break;
          case kStrEscape: may.Or(sets.escape); break;
          case kStrHex:
          case kStrLowHex: may.Or(sets.hex); break;
          case kStrLowBackslash: may.Add('\\'); break;
          case kStrLowU: may.Add('u'); break;
          default: may.Or(sets.all); break;
        }
        break;
      case kKey:
        candidates(n.names, t.a, t.b, t.count, &done);
        if (t.phase & kKeyEscape) {
          may.Add("\"\\");
        } else if (!(t.phase & kKeyFree)) {
          may.Add('"');
        } else if (t.aux != 0) {
          may.Or(sets.cont);
        } else {
          may.Or(sets.string);
          h.plain_run = INT32_MAX;  // a free-form key takes any plain bytes
        }
        break;
      default: may.Or(sets.all); break;
    }
  }
  h.may_accept = may.w;
  return h;
}

}  // namespace tide::engine
