#include "tide/env/api_task.h"

#include <cctype>
#include <sstream>

namespace tide::env {
namespace {

using nlohmann::json;

constexpr char kGoalHeader[] = "API goal (";
constexpr char kForbidPrefix[] = "- Never call ";
constexpr char kPlaceholderLead[] = "[detail ";

std::string Capitalised(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string Article(const std::string& noun) {
  return std::string("aeiou").find(noun[0]) != std::string::npos ? "an" : "a";
}

// A cursor over one sentence; every read names what it expected when it fails.
class Cursor {
 public:
  explicit Cursor(const std::string& s) : s_(s) {}

  bool TryLit(const std::string& lit) {
    if (s_.compare(pos_, lit.size(), lit) != 0) return false;
    pos_ += lit.size();
    return true;
  }
  Status Lit(const std::string& lit) {
    if (TryLit(lit)) return Status::Ok();
    return InvalidArgument("expected \"" + lit + "\" at position " + std::to_string(pos_) + " of: " + s_);
  }
  Result<std::string> Word() {
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
    if (pos_ == start) return InvalidArgument("expected a word at position " + std::to_string(start) + " of: " + s_);
    return s_.substr(start, pos_ - start);
  }
  // One JSON value: a string, number, literal, or an object/array (brackets balanced, strings skipped).
  Result<json> Value() {
    const size_t start = pos_;
    if (pos_ >= s_.size()) return InvalidArgument("expected a value at the end of: " + s_);
    if (s_[pos_] == '"') {
      SkipString();
    } else if (s_[pos_] == '{' || s_[pos_] == '[') {
      int depth = 0;
      while (pos_ < s_.size()) {
        const char c = s_[pos_];
        if (c == '"') {
          SkipString();
          continue;
        }
        ++pos_;
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && --depth == 0) break;
      }
    } else {
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' ||
                                  s_[pos_] == '+' || (s_[pos_] == '.' && pos_ + 1 < s_.size() &&
                                                      std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))))) {
        ++pos_;
      }
    }
    json v = json::parse(s_.substr(start, pos_ - start), nullptr, /*allow_exceptions=*/false);
    if (v.is_discarded()) return InvalidArgument("expected a JSON value at position " + std::to_string(start) + " of: " + s_);
    return v;
  }
  bool AtEnd() const { return pos_ == s_.size(); }

 private:
  void SkipString() {
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') pos_ += s_[pos_] == '\\' ? 2 : 1;
    pos_ = std::min(pos_ + 1, s_.size());
  }
  const std::string& s_;
  size_t pos_ = 0;
};

// "[detail N]" at the cursor: N, recorded in `step` as hiding `what`; 0 when there is none.
Result<int> Placeholder(Cursor& c, ApiStep& step, ApiDetail what) {
  if (!c.TryLit(kPlaceholderLead)) return 0;
  TIDE_ASSIGN_OR_RETURN(json n, c.Value());
  if (!n.is_number_integer() || n.get<int64_t>() < 1 || n.get<int64_t>() > 1000000) {
    return InvalidArgument("a detail placeholder needs a number >= 1, got " + n.dump());
  }
  TIDE_RETURN_IF_ERROR(c.Lit("]"));
  step.hidden.push_back({what, static_cast<int>(n.get<int64_t>())});
  return step.hidden.back().label;
}

// The owner part of every step: `customer "Ana Silva"` or `customer [detail 1]`.
Status Owner(Cursor& c, ApiStep& s) {
  TIDE_ASSIGN_OR_RETURN(s.owner, c.Word());
  TIDE_RETURN_IF_ERROR(c.Lit(" "));
  TIDE_ASSIGN_OR_RETURN(int label, Placeholder(c, s, ApiDetail::kOwnerName));
  if (label > 0) return Status::Ok();
  TIDE_ASSIGN_OR_RETURN(json v, c.Value());
  if (!v.is_string()) return InvalidArgument("expected a quoted name, got " + v.dump());
  s.owner_name = v.get<std::string>();
  return Status::Ok();
}

// A JSON value, or a placeholder hiding `what` (the value is then left null).
Result<json> ValueOrPlaceholder(Cursor& c, ApiStep& s, ApiDetail what) {
  TIDE_ASSIGN_OR_RETURN(int label, Placeholder(c, s, what));
  if (label > 0) return json();
  return c.Value();
}

}  // namespace

bool ApiStep::operator==(const ApiStep& o) const {
  return kind == o.kind && noun == o.noun && owner == o.owner && owner_name == o.owner_name && status == o.status &&
         verbs == o.verbs && above_field == o.above_field && above == o.above && field == o.field && value == o.value &&
         fields == o.fields && hidden == o.hidden;
}

std::string ApiDetailPlaceholder(int label) { return kPlaceholderLead + std::to_string(label) + "]"; }

int HiddenLabel(const ApiStep& step, ApiDetail what) {
  for (const ApiHiddenDetail& h : step.hidden) {
    if (h.what == what) return h.label;
  }
  return 0;
}

std::string ApiStepText(const ApiStep& s) {
  auto shown = [&](ApiDetail what, const json& v) {
    const int label = HiddenLabel(s, what);
    return label > 0 ? ApiDetailPlaceholder(label) : v.dump();
  };
  const std::string owner = s.owner + " " + shown(ApiDetail::kOwnerName, s.owner_name);
  switch (s.kind) {
    case ApiStepKind::kTransition: {
      std::string t = Capitalised(s.verbs.at(0)) + " every " + s.status + " " + s.noun + " of " + owner;
      if (!s.above_field.empty()) t += " whose " + s.above_field + " is above " + shown(ApiDetail::kThreshold, s.above);
      if (s.verbs.size() > 1) t += ", then " + s.verbs[1] + " each of them";
      return t + ".";
    }
    case ApiStepKind::kUpdate:
      return "Set the " + s.field + " of every " + s.status + " " + s.noun + " of " + owner + " to " + shown(ApiDetail::kValue, s.value) + ".";
    case ApiStepKind::kCreate:
      return "Create " + Article(s.noun) + " " + s.noun + " for " + owner + " with these fields: " + s.fields.dump() + ".";
  }
  return "";
}

Result<ApiStep> ParseApiStep(const std::string& sentence) {
  Cursor c(sentence);
  ApiStep s;
  if (c.TryLit("Set the ")) {
    s.kind = ApiStepKind::kUpdate;
    TIDE_ASSIGN_OR_RETURN(s.field, c.Word());
    TIDE_RETURN_IF_ERROR(c.Lit(" of every "));
    TIDE_ASSIGN_OR_RETURN(s.status, c.Word());
    TIDE_RETURN_IF_ERROR(c.Lit(" "));
    TIDE_ASSIGN_OR_RETURN(s.noun, c.Word());
    TIDE_RETURN_IF_ERROR(c.Lit(" of "));
    TIDE_RETURN_IF_ERROR(Owner(c, s));
    TIDE_RETURN_IF_ERROR(c.Lit(" to "));
    TIDE_ASSIGN_OR_RETURN(s.value, ValueOrPlaceholder(c, s, ApiDetail::kValue));
  } else if (c.TryLit("Create ")) {
    s.kind = ApiStepKind::kCreate;
    if (!c.TryLit("an ")) TIDE_RETURN_IF_ERROR(c.Lit("a "));
    TIDE_ASSIGN_OR_RETURN(s.noun, c.Word());
    TIDE_RETURN_IF_ERROR(c.Lit(" for "));
    TIDE_RETURN_IF_ERROR(Owner(c, s));
    TIDE_RETURN_IF_ERROR(c.Lit(" with these fields: "));
    TIDE_ASSIGN_OR_RETURN(s.fields, c.Value());
    if (!s.fields.is_object()) return InvalidArgument("the fields of a create step must be a JSON object: " + sentence);
  } else {
    s.kind = ApiStepKind::kTransition;
    TIDE_ASSIGN_OR_RETURN(std::string verb, c.Word());
    if (!std::isupper(static_cast<unsigned char>(verb[0]))) {
      return InvalidArgument("a step starts with a capitalised verb, \"Set the\" or \"Create\": " + sentence);
    }
    verb[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(verb[0])));
    s.verbs.push_back(verb);
    TIDE_RETURN_IF_ERROR(c.Lit(" every "));
    TIDE_ASSIGN_OR_RETURN(s.status, c.Word());
    TIDE_RETURN_IF_ERROR(c.Lit(" "));
    TIDE_ASSIGN_OR_RETURN(s.noun, c.Word());
    TIDE_RETURN_IF_ERROR(c.Lit(" of "));
    TIDE_RETURN_IF_ERROR(Owner(c, s));
    if (c.TryLit(" whose ")) {
      TIDE_ASSIGN_OR_RETURN(s.above_field, c.Word());
      TIDE_RETURN_IF_ERROR(c.Lit(" is above "));
      TIDE_ASSIGN_OR_RETURN(json above, ValueOrPlaceholder(c, s, ApiDetail::kThreshold));
      if (!above.is_null() && !above.is_number_integer()) return InvalidArgument("the threshold must be an integer: " + sentence);
      if (!above.is_null()) s.above = above.get<int64_t>();
    }
    if (c.TryLit(", then ")) {
      TIDE_ASSIGN_OR_RETURN(std::string second, c.Word());
      s.verbs.push_back(second);
      TIDE_RETURN_IF_ERROR(c.Lit(" each of them"));
    }
  }
  TIDE_RETURN_IF_ERROR(c.Lit("."));
  if (!c.AtEnd()) return InvalidArgument("unexpected text after the step: " + sentence);
  return s;
}

std::string FormatApiTask(const ApiTaskSpec& task) {
  std::ostringstream o;
  o << "You work in the back office of " << task.description
    << " through its API tools. Reach the goal below using the tools only.\n\n";
  o << kGoalHeader << task.steps.size() << (task.steps.size() == 1 ? " step" : " steps") << "):\n";
  for (size_t i = 0; i < task.steps.size(); ++i) o << i + 1 << ". " << ApiStepText(task.steps[i]) << "\n";
  o << "\nRules:\n- Change only the records that a step asks you to change; leave every other record as it is.\n";
  for (const std::string& t : task.forbidden_tools) o << kForbidPrefix << t << ".\n";
  size_t hidden = 0;
  for (const ApiStep& s : task.steps) hidden += s.hidden.size();
  if (hidden > 0) {
    o << "\nThe user held back " << hidden << (hidden == 1 ? " detail" : " details")
      << " of the goal, written " << kPlaceholderLead << "N]. Ask the user for each one with the ask_user tool, "
         "one detail a question, naming it as written (for example: \"What is " << kPlaceholderLead << "N]?\"); "
         "never guess one.\n";
  }
  o << "\nThe API fails now and then. A \"503\" or \"429\" error was not applied: retry the call. A \"504\" "
       "timeout may or may not have been applied: read the record before retrying (a create retried with the "
       "same request_id never makes a duplicate).\n"
       "When every step is done, reply with a short summary of what you changed.";
  return o.str();
}

Result<ApiTaskSpec> ParseApiTask(const std::string& text) {
  const size_t header = text.find(kGoalHeader);
  if (header == std::string::npos) return InvalidArgument("no \"API goal (N steps):\" block in the task");
  ApiTaskSpec task;
  const std::string lead = "You work in the back office of ";
  if (text.compare(0, lead.size(), lead) == 0) {
    const size_t end = text.find(" through its API tools.");
    if (end != std::string::npos) task.description = text.substr(lead.size(), end - lead.size());
  }
  size_t n = 0;
  {
    size_t p = header + std::string(kGoalHeader).size();
    while (p < text.size() && std::isdigit(static_cast<unsigned char>(text[p]))) n = n * 10 + static_cast<size_t>(text[p++] - '0');
    if (n == 0) return InvalidArgument("the API goal block names no step count");
  }
  std::istringstream lines(text.substr(text.find('\n', header) + 1));
  std::string line;
  while (task.steps.size() < n && std::getline(lines, line)) {
    const std::string prefix = std::to_string(task.steps.size() + 1) + ". ";
    if (line.compare(0, prefix.size(), prefix) != 0) {
      return InvalidArgument("step " + std::to_string(task.steps.size() + 1) + " of " + std::to_string(n) +
                             " is missing; got: " + line);
    }
    TIDE_ASSIGN_OR_RETURN(ApiStep step, ParseApiStep(line.substr(prefix.size())));
    task.steps.push_back(std::move(step));
  }
  if (task.steps.size() < n) return InvalidArgument("the API goal promises " + std::to_string(n) + " steps but lists fewer");
  while (std::getline(lines, line)) {
    if (line.compare(0, std::string(kForbidPrefix).size(), kForbidPrefix) == 0 && line.back() == '.') {
      const size_t start = std::string(kForbidPrefix).size();
      task.forbidden_tools.push_back(line.substr(start, line.size() - 1 - start));
    }
  }
  return task;
}

}  // namespace tide::env
