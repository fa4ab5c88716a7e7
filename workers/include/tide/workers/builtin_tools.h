// The built-in tools any agent can be given, beside the worlds' and MCP servers' tools:
//  - `calculator`: evaluates an arithmetic expression exactly as written, in double
//    precision: + - * / % and ^ (right-associative), parentheses, unary minus, decimal
//    and scientific numbers, the constants pi and e, and the functions sqrt, abs, floor,
//    ceil, round, ln, log10, exp, min and max. Errors (a syntax error at a position,
//    division by zero, a result that is not finite) are INVALID_ARGUMENT naming what is
//    wrong, which the registry turns into an error observation.
//  - `notes`: a scratchpad shared by every agent given the same NotesStore (one per run,
//    so a coordinator and its sub-agents can leave each other notes): write, append, read,
//    list and delete by key. Keys are 1..128 characters; a note holds at most 64 KiB and a
//    store at most 1,024 notes (RESOURCE_EXHAUSTED beyond).
// Thread safety: both tools may be called from many agents at once (NotesStore locks).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/workers/tool.h"

namespace tide::workers {

inline constexpr char kCalculatorTool[] = "calculator";
inline constexpr char kNotesTool[] = "notes";

// The value of `expression` (see above), or INVALID_ARGUMENT naming the problem.
Result<double> EvaluateArithmetic(const std::string& expression);
std::shared_ptr<Tool> MakeCalculatorTool();

class NotesStore {
 public:
  static constexpr size_t kMaxNotes = 1024;
  static constexpr size_t kMaxNoteBytes = 64 * 1024;
  Status Write(const std::string& key, const std::string& text, bool append);
  Result<std::string> Read(const std::string& key) const;  // NOT_FOUND naming the key
  std::vector<std::string> Keys() const;                   // sorted
  bool Delete(const std::string& key);                     // false when absent

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> notes_;
};
std::shared_ptr<Tool> MakeNotesTool(std::shared_ptr<NotesStore> store);

}  // namespace tide::workers
