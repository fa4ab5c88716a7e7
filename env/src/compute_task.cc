#include "tide/env/compute_task.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "task_text.h"

namespace tide::env {
namespace {

using task_text::Trim;
using task_text::Words;

bool IsPeriod(const std::string& p) {
  return p.size() == 7 && p[4] == '-' && std::all_of(p.begin(), p.begin() + 4, ::isdigit) && std::isdigit(p[5]) &&
         std::isdigit(p[6]) && std::atoi(p.c_str() + 5) >= 1 && std::atoi(p.c_str() + 5) <= 12;
}

const char* OpSymbol(const std::string& op) {
  if (op == "add") return "+";
  if (op == "sub") return "-";
  if (op == "mul") return "*";
  return "/";
}

Result<ComputeStep> ParseStep(const std::string& line) {
  auto bad = [&](const std::string& why) { return InvalidArgument("compute task: step \"" + line + "\": " + why); };
  size_t eq = line.find(" = ");
  if (eq == std::string::npos) return bad("expected \"V = ...\"");
  ComputeStep s;
  s.var = Trim(line.substr(0, eq));
  const std::string rhs = Trim(line.substr(eq + 3));
  if (s.var.empty() || s.var.find(' ') != std::string::npos) return bad("the variable must be one word");
  size_t q1 = rhs.find('"');
  if (q1 != std::string::npos) {
    size_t q2 = rhs.find('"', q1 + 1);
    if (q2 == std::string::npos) return bad("unclosed series name");
    std::vector<std::string> head = Words(rhs.substr(0, q1)), tail = Words(rhs.substr(q2 + 1));
    if (head.size() != 3 || head[1] != "of" || head[2] != "series") return bad("expected \"OP of series \\\"NAME\\\"\"");
    if (tail.size() != 4 || tail[0] != "from" || tail[2] != "to" || !IsPeriod(tail[1]) || !IsPeriod(tail[3])) {
      return bad("expected \"from YYYY-MM to YYYY-MM\" after the series name");
    }
    const auto& ops = SeriesOperations();
    if (std::find(ops.begin(), ops.end(), head[0]) == ops.end()) return bad("unknown operation \"" + head[0] + "\"");
    s.op = head[0];
    s.series = rhs.substr(q1 + 1, q2 - q1 - 1);
    s.from = tail[1];
    s.to = tail[3];
    if (s.from > s.to) return bad("the range ends before it starts");
    return s;
  }
  std::vector<std::string> w = Words(rhs);
  if (w.size() >= 2 && w[1] == "converted") {
    if (w.size() != 11 || w[2] != "from" || w[4] != "to" || w[6] != "at" || w[7] != "the" || w[8] != "rate" || w[9] != "for" ||
        !IsPeriod(w[10])) {
      return bad("expected \"X converted from CUR to CUR at the rate for YYYY-MM\"");
    }
    s.op = "convert";
    s.args = {w[0]};
    s.currency_from = w[3];
    s.currency_to = w[5];
    s.rate_period = w[10];
    return s;
  }
  if (w.size() < 3 || w.size() % 2 == 0) return bad("expected an arithmetic expression \"X op Y\"");
  const std::string sym = w[1];
  for (size_t i = 1; i < w.size(); i += 2) {
    if (w[i] != sym) return bad("mixes operators");
  }
  if (sym == "+") {
    s.op = "add";
  } else if (w.size() != 3) {
    return bad("only + takes more than two operands");
  } else if (sym == "-") {
    s.op = "sub";
  } else if (sym == "/") {
    s.op = "div";
  } else if (sym == "*") {
    s.op = "mul";
  } else {
    return bad("unknown operator \"" + sym + "\"");
  }
  for (size_t i = 0; i < w.size(); i += 2) s.args.push_back(w[i]);
  return s;
}

}  // namespace

const std::vector<std::string>& SeriesOperations() {
  static const std::vector<std::string> kOps = {"sum", "average", "max", "min", "first", "last"};
  return kOps;
}

std::string FormatComputeSteps(const ComputeSpec& spec) {
  std::string out = "Steps (" + std::to_string(spec.steps.size()) + "):\n";
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    const ComputeStep& s = spec.steps[i];
    out += std::to_string(i + 1) + ". " + s.var + " = ";
    if (!s.series.empty()) {
      out += s.op + " of series \"" + s.series + "\" from " + s.from + " to " + s.to;
    } else if (s.op == "convert") {
      out += s.args[0] + " converted from " + s.currency_from + " to " + s.currency_to + " at the rate for " +
             s.rate_period;
    } else {
      for (size_t a = 0; a < s.args.size(); ++a) out += (a ? std::string(" ") + OpSymbol(s.op) + " " : "") + s.args[a];
    }
    out += "\n";
  }
  return out + "Answer: " + spec.answer + "\n";
}

Result<ComputeSpec> ParseComputeSteps(const std::string& text) {
  std::vector<std::string> lines = task_text::Lines(text);
  size_t at = 0;
  while (at < lines.size() && lines[at].compare(0, 7, "Steps (") != 0) ++at;
  if (at == lines.size()) return InvalidArgument("compute task: no \"Steps (n):\" block found");
  const int n = std::atoi(lines[at].c_str() + 7);
  if (n <= 0) return InvalidArgument("compute task: the task has no steps");
  ComputeSpec spec;
  for (int k = 0; k < n; ++k) {
    const size_t i = at + 1 + static_cast<size_t>(k);
    const std::string prefix = std::to_string(k + 1) + ". ";
    if (i >= lines.size() || lines[i].compare(0, prefix.size(), prefix) != 0) {
      return InvalidArgument("compute task: expected step line \"" + prefix + "...\"");
    }
    TIDE_ASSIGN_OR_RETURN(ComputeStep step, ParseStep(lines[i].substr(prefix.size())));
    spec.steps.push_back(std::move(step));
  }
  const size_t a = at + 1 + static_cast<size_t>(n);
  if (a >= lines.size() || lines[a].compare(0, 7, "Answer:") != 0) {
    return InvalidArgument("compute task: expected \"Answer: V\" after the steps");
  }
  spec.answer = Trim(lines[a].substr(7));
  return spec;
}

Result<double> EvaluateCompute(const ComputeSpec& spec, const ComputeData& data) {
  std::map<std::string, double> vars;
  auto operand = [&](const std::string& name) -> Result<double> {
    auto it = vars.find(name);
    if (it != vars.end()) return it->second;
    char* end = nullptr;
    double v = std::strtod(name.c_str(), &end);
    if (!name.empty() && end == name.c_str() + name.size()) return v;
    return InvalidArgument("compute: unknown variable \"" + name + "\"");
  };
  for (const ComputeStep& s : spec.steps) {
    double v = 0;
    if (!s.series.empty()) {
      TIDE_ASSIGN_OR_RETURN(std::vector<double> xs, data.series(s.series, s.from, s.to));
      if (xs.empty()) return InvalidArgument("compute: series \"" + s.series + "\" has no values in the range");
      if (s.op == "sum" || s.op == "average") {
        for (double x : xs) v += x;
        if (s.op == "average") v /= static_cast<double>(xs.size());
      } else if (s.op == "max") {
        v = *std::max_element(xs.begin(), xs.end());
      } else if (s.op == "min") {
        v = *std::min_element(xs.begin(), xs.end());
      } else {
        v = s.op == "first" ? xs.front() : xs.back();
      }
    } else if (s.op == "convert") {
      TIDE_ASSIGN_OR_RETURN(double x, operand(s.args[0]));
      TIDE_ASSIGN_OR_RETURN(double rate, data.rate(s.currency_from, s.currency_to, s.rate_period));
      v = x * rate;
    } else {
      TIDE_ASSIGN_OR_RETURN(v, operand(s.args[0]));
      for (size_t a = 1; a < s.args.size(); ++a) {
        TIDE_ASSIGN_OR_RETURN(double y, operand(s.args[a]));
        if (s.op == "add") v += y;
        if (s.op == "sub") v -= y;
        if (s.op == "mul") v *= y;
        if (s.op == "div") {
          if (y == 0) return InvalidArgument("compute: step " + s.var + " divides by zero");
          v /= y;
        }
      }
    }
    vars[s.var] = v;
  }
  auto it = vars.find(spec.answer);
  if (it == vars.end()) return InvalidArgument("compute: the answer variable \"" + spec.answer + "\" is never set");
  return it->second;
}

}  // namespace tide::env
