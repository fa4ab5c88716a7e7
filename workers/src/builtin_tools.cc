// The calculator (a recursive-descent evaluator over the grammar below) and the notes tool
// (builtin_tools.h).
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '/' | '%') unary)*
//   unary   := '-' unary | '+' unary | power  (so -2^2 is -(2^2), as in mathematics)
//   power   := primary ('^' unary)?          right-associative; 2^-1 works
//   primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
#include "tide/workers/builtin_tools.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tide::workers {
namespace {

using nlohmann::json;

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Result<double> Parse() {
    TIDE_ASSIGN_OR_RETURN(double v, Expr(0));
    Skip();
    if (pos_ != s_.size()) return Error("unexpected '" + std::string(1, s_[pos_]) + "'");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 200;

  Status Error(const std::string& what) const {
    return InvalidArgument("expression: " + what + " at position " + std::to_string(pos_ + 1));
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  Result<double> Expr(int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    TIDE_ASSIGN_OR_RETURN(double v, Term(depth));
    while (true) {
      if (Eat('+')) {
        TIDE_ASSIGN_OR_RETURN(double r, Term(depth));
        v += r;
      } else if (Eat('-')) {
        TIDE_ASSIGN_OR_RETURN(double r, Term(depth));
        v -= r;
      } else {
        return v;
      }
    }
  }
  Result<double> Term(int depth) {
    TIDE_ASSIGN_OR_RETURN(double v, Unary(depth));
    while (true) {
      const size_t at = pos_;
      if (Eat('*')) {
        TIDE_ASSIGN_OR_RETURN(double r, Unary(depth));
        v *= r;
      } else if (Eat('/') || Eat('%')) {
        const bool mod = s_[pos_ - 1] == '%';
        TIDE_ASSIGN_OR_RETURN(double r, Unary(depth));
        if (r == 0) {
          pos_ = at;
          return Error(mod ? "modulo by zero" : "division by zero");
        }
        v = mod ? std::fmod(v, r) : v / r;
      } else {
        return v;
      }
    }
  }
  Result<double> Unary(int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    if (Eat('-')) {
      TIDE_ASSIGN_OR_RETURN(double v, Unary(depth + 1));
      return -v;
    }
    if (Eat('+')) return Unary(depth + 1);
    return Power(depth);
  }
  Result<double> Power(int depth) {
    TIDE_ASSIGN_OR_RETURN(double base, Primary(depth));
    if (!Eat('^')) return base;
    TIDE_ASSIGN_OR_RETURN(double exponent, Unary(depth + 1));
    return std::pow(base, exponent);
  }
  Result<double> Primary(int depth) {
    Skip();
    if (pos_ >= s_.size()) return Error("expected a number, a name or '('");
    if (Eat('(')) {
      TIDE_ASSIGN_OR_RETURN(double v, Expr(depth + 1));
      if (!Eat(')')) return Error("expected ')'");
      return v;
    }
    const char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const char* begin = s_.c_str() + pos_;
      char* end = nullptr;
      const double v = std::strtod(begin, &end);
      if (end == begin) return Error("bad number");
      pos_ += static_cast<size_t>(end - begin);
      return v;
    }
    if (std::isalpha(static_cast<unsigned char>(c))) {
      const size_t start = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      const std::string name = s_.substr(start, pos_ - start);
      if (name == "pi") return M_PI;
      if (name == "e") return M_E;
      if (!Eat('(')) {
        pos_ = start;
        return Error("unknown name \"" + name + "\"");
      }
      std::vector<double> args;
      do {
        TIDE_ASSIGN_OR_RETURN(double a, Expr(depth + 1));
        args.push_back(a);
      } while (Eat(','));
      if (!Eat(')')) return Error("expected ')' after the arguments of " + name);
      return Call(name, args, start);
    }
    return Error("unexpected '" + std::string(1, c) + "'");
  }
  Result<double> Call(const std::string& name, const std::vector<double>& a, size_t at) {
    auto one = [&](const std::function<double(double)>& f) -> Result<double> {
      if (a.size() != 1) {
        pos_ = at;
        return Error(name + " takes one argument, got " + std::to_string(a.size()));
      }
      return f(a[0]);
    };
    if (name == "sqrt") {
      if (a.size() == 1 && a[0] < 0) {
        pos_ = at;
        return Error("sqrt of a negative number");
      }
      return one([](double x) { return std::sqrt(x); });
    }
    if (name == "abs") return one([](double x) { return std::fabs(x); });
    if (name == "floor") return one([](double x) { return std::floor(x); });
    if (name == "ceil") return one([](double x) { return std::ceil(x); });
    if (name == "round") return one([](double x) { return std::round(x); });
    if (name == "exp") return one([](double x) { return std::exp(x); });
    if (name == "ln" || name == "log10") {
      if (a.size() == 1 && a[0] <= 0) {
        pos_ = at;
        return Error(name + " of a number that is not positive");
      }
      return name == "ln" ? one([](double x) { return std::log(x); }) : one([](double x) { return std::log10(x); });
    }
    if (name == "min" || name == "max") {
      double v = a[0];
      for (double x : a) v = name == "min" ? std::min(v, x) : std::max(v, x);
      return v;
    }
    pos_ = at;
    return Error("unknown function \"" + name + "\"");
  }

  const std::string& s_;
  size_t pos_ = 0;
};

// Shortest text that reads back as the same double ("0.1", "42", "1e+300").
std::string FormatNumber(double v) {
  for (int precision = 1; precision <= 17; ++precision) {
    std::ostringstream out;
    out.precision(precision);
    out << v;
    if (std::strtod(out.str().c_str(), nullptr) == v) return out.str();
  }
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

class CalculatorTool : public Tool {
 public:
  CalculatorTool()
      : spec_{kCalculatorTool,
              "Evaluates an arithmetic expression: + - * / % ^, parentheses, pi, e, sqrt, abs, floor, ceil, "
              "round, ln, log10, exp, min, max.",
              json::parse(R"json({"type":"object","properties":{"expression":{"type":"string",
                  "description":"e.g. (17.5 - 3) * 2 ^ 3 / max(4, 2)"}},"required":["expression"],
                  "additionalProperties":false})json")} {}
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override {
    TIDE_ASSIGN_OR_RETURN(double v, EvaluateArithmetic(arguments.at("expression").get<std::string>()));
    return FormatNumber(v);
  }

 private:
  ToolSpec spec_;
};

class NotesTool : public Tool {
 public:
  explicit NotesTool(std::shared_ptr<NotesStore> store)
      : store_(std::move(store)),
        spec_{kNotesTool,
              "A scratchpad shared with the other agents of this run: write, append, read, list or delete "
              "notes by key.",
              json::parse(R"({"type":"object","properties":{
                  "action":{"type":"string","enum":["write","append","read","list","delete"]},
                  "key":{"type":"string"},"text":{"type":"string"}},
                  "required":["action"],"additionalProperties":false})")} {}
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override {
    const std::string action = arguments.at("action").get<std::string>();
    if (action == "list") {
      const std::vector<std::string> keys = store_->Keys();
      if (keys.empty()) return std::string("(no notes)");
      std::string out;
      for (const auto& k : keys) out += k + "\n";
      out.pop_back();
      return out;
    }
    if (!arguments.contains("key")) return InvalidArgument("notes: \"" + action + "\" needs a key");
    const std::string key = arguments["key"].get<std::string>();
    if (action == "read") return store_->Read(key);
    if (action == "delete") {
      if (!store_->Delete(key)) return NotFound("notes: no note \"" + key + "\"");
      return "deleted \"" + key + "\"";
    }
    if (!arguments.contains("text")) return InvalidArgument("notes: \"" + action + "\" needs a text");
    TIDE_RETURN_IF_ERROR(store_->Write(key, arguments["text"].get<std::string>(), action == "append"));
    return std::string(action == "append" ? "appended to \"" : "wrote \"") + key + "\"";
  }

 private:
  std::shared_ptr<NotesStore> store_;
  ToolSpec spec_;
};

}  // namespace

Result<double> EvaluateArithmetic(const std::string& expression) {
  if (expression.size() > 10000) return InvalidArgument("expression: longer than 10,000 characters");
  Parser parser(expression);
  TIDE_ASSIGN_OR_RETURN(double v, parser.Parse());
  if (!std::isfinite(v)) return InvalidArgument("expression: the result is not a finite number");
  return v;
}

std::shared_ptr<Tool> MakeCalculatorTool() { return std::make_shared<CalculatorTool>(); }

Status NotesStore::Write(const std::string& key, const std::string& text, bool append) {
  if (key.empty() || key.size() > 128) return InvalidArgument("notes: a key is 1..128 characters");
  std::lock_guard lock(mu_);
  auto it = notes_.find(key);
  if (it == notes_.end() && notes_.size() >= kMaxNotes) {
    return ResourceExhausted("notes: the store holds " + std::to_string(kMaxNotes) + " notes already");
  }
  const size_t size = (append && it != notes_.end() ? it->second.size() : 0) + text.size();
  if (size > kMaxNoteBytes) return ResourceExhausted("notes: a note holds at most 65,536 bytes");
  if (append && it != notes_.end()) {
    it->second += text;
  } else {
    notes_[key] = text;
  }
  return Status::Ok();
}

Result<std::string> NotesStore::Read(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = notes_.find(key);
  if (it == notes_.end()) return NotFound("notes: no note \"" + key + "\"");
  return it->second;
}

std::vector<std::string> NotesStore::Keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  for (const auto& [k, v] : notes_) keys.push_back(k);
  return keys;
}

bool NotesStore::Delete(const std::string& key) {
  std::lock_guard lock(mu_);
  return notes_.erase(key) > 0;
}

std::shared_ptr<Tool> MakeNotesTool(std::shared_ptr<NotesStore> store) {
  return std::make_shared<NotesTool>(std::move(store));
}

}  // namespace tide::workers
