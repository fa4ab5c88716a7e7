#include "tide/env/question_task.h"

#include <algorithm>
#include <cstdlib>

#include "task_text.h"
#include "tide/env/graph_schema.h"

namespace tide::env {
namespace {

using task_text::Trim;

std::string FieldLine(const std::string& name) {
  const GraphField* f = FindGraphField(name);
  return f == nullptr ? name : name + " (" + f->description + ")";
}

std::string OfChain(const QuestionSpec& q) {
  std::string out = q.entity;
  for (const std::string& rel : q.path) out = "the " + FindGraphField(rel)->phrase + " of " + out;
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// "- key: value" -> {key, value}; false for other lines.
bool KeyValue(const std::string& line, std::string* key, std::string* value) {
  if (line.compare(0, 2, "- ") != 0) return false;
  size_t colon = line.find(':');
  if (colon == std::string::npos) return false;
  *key = Trim(line.substr(2, colon - 2));
  *value = Trim(line.substr(colon + 1));
  return true;
}

}  // namespace

const std::vector<std::string>& AggregateOperations() {
  static const std::vector<std::string> kOps = {"sum", "average", "max", "min", "earliest", "latest", "count"};
  return kOps;
}

std::string QuestionSentence(const QuestionSpec& q) {
  if (q.family == kAggregateFamily) {
    const std::string n = std::to_string(q.entities.size());
    if (q.operation == "count") return "How many of the " + n + " organisations below operate in the " + q.condition + " sector?";
    if (q.operation == "earliest") return "Which is the earliest founding date among the " + n + " organisations below?";
    if (q.operation == "latest") return "Which is the latest founding date among the " + n + " organisations below?";
    const GraphField* f = FindGraphField(q.attribute);
    const std::string what = f ? f->phrase : q.attribute;
    if (q.operation == "sum") return "What is the total " + what + " of the " + n + " organisations below?";
    if (q.operation == "average") return "What is the average " + what + " of the " + n + " organisations below?";
    return "What is the " + std::string(q.operation == "max" ? "largest " : "smallest ") + what + " among the " + n +
           " organisations below?";
  }
  const GraphField* f = FindGraphField(q.attribute);
  return "What is the " + (f ? f->phrase : q.attribute) + " of " + OfChain(q) + "?";
}

std::string FormatQuestionTask(const QuestionSpec& q) {
  std::string out = QuestionSentence(q) + "\n\nQuestion (" + q.family + "):\n";
  if (q.family == kAggregateFamily) {
    out += "- operation: " + q.operation + "\n- attribute: " + FieldLine(q.attribute) + "\n";
    if (!q.condition.empty()) out += "- condition: " + q.condition + "\n";
    out += "\nEntities (" + std::to_string(q.entities.size()) + "):\n";
    for (size_t i = 0; i < q.entities.size(); ++i) out += std::to_string(i + 1) + ". " + q.entities[i] + "\n";
  } else {
    out += "- entity: " + q.entity + "\n";
    if (!q.path.empty()) {
      std::string path;
      for (const std::string& p : q.path) path += (path.empty() ? "" : " > ") + p;
      out += "- path: " + path + "\n";
    }
    out += "- attribute: " + FieldLine(q.attribute) + "\n";
  }
  out += "\nAnswer with a ```json block holding {\"answer\": value}: a JSON number for integer and number answers "
         "(averages may be rounded to 2 decimals), \"YYYY-MM-DD\" for dates, the exact name for entities.";
  return out;
}

Result<QuestionSpec> ParseQuestionTask(const std::string& text) {
  std::vector<std::string> lines = task_text::Lines(text);
  size_t at = 0;
  QuestionSpec q;
  for (; at < lines.size(); ++at) {
    const std::string& l = lines[at];
    if (l.compare(0, 10, "Question (") == 0 && l.size() > 12 && l.compare(l.size() - 2, 2, "):") == 0) {
      q.family = l.substr(10, l.size() - 12);
      break;
    }
  }
  if (at == lines.size()) return InvalidArgument("question task: no \"Question (family):\" block found");
  if (q.family != kLookupFamily && q.family != kMultiHopFamily && q.family != kAggregateFamily) {
    return InvalidArgument("question task: unknown family \"" + q.family + "\"");
  }
  size_t i = at + 1;
  for (std::string key, value; i < lines.size() && KeyValue(lines[i], &key, &value); ++i) {
    if (key == "entity") {
      q.entity = value;
    } else if (key == "path") {
      for (size_t pos = 0; pos <= value.size();) {
        size_t sep = value.find('>', pos);
        std::string rel = Trim(value.substr(pos, sep == std::string::npos ? std::string::npos : sep - pos));
        const GraphField* f = FindGraphField(rel);
        if (f == nullptr || !f->relation) return InvalidArgument("question task: \"" + rel + "\" is not a relation");
        q.path.push_back(rel);
        if (sep == std::string::npos) break;
        pos = sep + 1;
      }
    } else if (key == "attribute") {
      q.attribute = Trim(value.substr(0, value.find(" (")));
    } else if (key == "operation") {
      q.operation = value;
    } else if (key == "condition") {
      q.condition = value;
    }
  }
  if (q.attribute.empty() || FindGraphField(q.attribute) == nullptr) {
    return InvalidArgument("question task: missing or unknown attribute \"" + q.attribute + "\"");
  }
  if (q.family == kAggregateFamily) {
    if (!Contains(AggregateOperations(), q.operation)) {
      return InvalidArgument("question task: unknown operation \"" + q.operation + "\"");
    }
    if (q.operation == "count" && q.condition.empty()) return InvalidArgument("question task: count needs a condition");
    for (; i < lines.size() && lines[i].compare(0, 10, "Entities (") != 0; ++i) {
    }
    if (i == lines.size()) return InvalidArgument("question task: no \"Entities (n):\" list found");
    const int n = std::atoi(lines[i].substr(10).c_str());
    for (int k = 0; k < n; ++k) {
      const std::string prefix = std::to_string(k + 1) + ". ";
      const size_t li = i + 1 + static_cast<size_t>(k);
      if (li >= lines.size() || lines[li].compare(0, prefix.size(), prefix) != 0) {
        return InvalidArgument("question task: expected entity line \"" + prefix + "<name>\"");
      }
      q.entities.push_back(Trim(lines[li].substr(prefix.size())));
    }
    if (q.entities.empty()) return InvalidArgument("question task: the aggregate has no entities");
  } else {
    if (q.entity.empty()) return InvalidArgument("question task: missing \"- entity:\"");
    if (q.family == kMultiHopFamily && q.path.empty()) return InvalidArgument("question task: missing \"- path:\"");
  }
  return q;
}

CellType QuestionAnswerType(const QuestionSpec& q) {
  const GraphField* f = FindGraphField(q.attribute);
  const CellType attr = f == nullptr || f->relation ? CellType::kString : f->type;
  if (q.family != kAggregateFamily) return attr;
  if (q.operation == "sum" || q.operation == "average") return CellType::kNumber;
  if (q.operation == "count") return CellType::kInteger;
  return attr;
}

}  // namespace tide::env
