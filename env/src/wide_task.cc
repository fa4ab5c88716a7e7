#include "tide/env/wide_task.h"

#include <cstdlib>

#include "task_text.h"
#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

using task_text::Lines;
using task_text::Trim;

// "Columns (12):" -> 12 when `line` is that header for `word`; -1 otherwise.
int HeaderCount(const std::string& line, const std::string& word) {
  std::string prefix = word + " (";
  if (line.compare(0, prefix.size(), prefix) != 0 || line.size() < prefix.size() + 3) return -1;
  if (line.compare(line.size() - 2, 2, "):") != 0) return -1;
  std::string digits = line.substr(prefix.size(), line.size() - prefix.size() - 2);
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::atoi(digits.c_str());
}

size_t FindHeader(const std::vector<std::string>& lines, const std::string& word, size_t from, int* count) {
  for (size_t i = from; i < lines.size(); ++i) {
    int n = HeaderCount(lines[i], word);
    if (n >= 0) {
      *count = n;
      return i;
    }
  }
  return std::string::npos;
}

std::string WideLists(const std::vector<std::string>& entities, const std::vector<std::string>& columns) {
  std::string out = "Columns (" + std::to_string(columns.size()) + "):\n";
  for (const std::string& c : columns) {
    const AttributeInfo* info = FindResearchAttribute(c);
    out += "- " + c + (info ? ": " + info->description : "") + "\n";
  }
  out += "\nEntities (" + std::to_string(entities.size()) + "):\n";
  for (size_t i = 0; i < entities.size(); ++i) out += std::to_string(i + 1) + ". " + entities[i] + "\n";
  return out;
}

}  // namespace

std::string FormatWideSubtask(const std::vector<std::string>& entities, const std::vector<std::string>& columns) {
  return WideLists(entities, columns) + "\nAnswer with a ```json array of one object per entity (\"entity\" and the columns).";
}

std::string FormatWideTask(const std::vector<std::string>& entities, const std::vector<std::string>& columns) {
  std::string out = "Find the columns below for each of the " + std::to_string(entities.size()) +
                    " entities listed.\n\n" + WideLists(entities, columns);
  out +=
      "\nAnswer with a JSON array in a ```json block: one object per entity, with the key \"entity\" (the "
      "name exactly as listed) and one key per column. Use JSON numbers for integer and number columns, "
      "dates as \"YYYY-MM-DD\", and null for a value you cannot find.";
  return out;
}

Result<WideTaskSpec> ParseWideTask(const std::string& text) {
  std::vector<std::string> lines = Lines(text);
  WideTaskSpec spec;
  int ncol = 0;
  size_t at = FindHeader(lines, "Columns", 0, &ncol);
  if (at == std::string::npos) return InvalidArgument("wide task: no \"Columns (k):\" list found");
  if (ncol == 0) return InvalidArgument("wide task: the task has no columns");
  for (int k = 0; k < ncol; ++k) {
    size_t i = at + 1 + static_cast<size_t>(k);
    if (i >= lines.size() || lines[i].compare(0, 2, "- ") != 0) {
      return InvalidArgument("wide task: expected " + std::to_string(ncol) + " column lines \"- name\", found " +
                             std::to_string(k));
    }
    std::string name = Trim(lines[i].substr(2));
    size_t colon = name.find(':');
    if (colon != std::string::npos) name = Trim(name.substr(0, colon));
    if (name.empty()) return InvalidArgument("wide task: column " + std::to_string(k + 1) + " has no name");
    spec.columns.push_back(name);
  }
  int nent = 0;
  size_t ent = FindHeader(lines, "Entities", at + 1 + static_cast<size_t>(ncol), &nent);
  if (ent == std::string::npos) return InvalidArgument("wide task: no \"Entities (n):\" list found");
  if (nent == 0) return InvalidArgument("wide task: the task has no entities");
  for (int k = 0; k < nent; ++k) {
    size_t i = ent + 1 + static_cast<size_t>(k);
    std::string prefix = std::to_string(k + 1) + ". ";
    if (i >= lines.size() || lines[i].compare(0, prefix.size(), prefix) != 0) {
      return InvalidArgument("wide task: expected entity line \"" + prefix + "<name>\" (" + std::to_string(nent) +
                             " entities listed, found " + std::to_string(k) + ")");
    }
    std::string name = Trim(lines[i].substr(prefix.size()));
    if (name.empty()) return InvalidArgument("wide task: entity " + std::to_string(k + 1) + " has no name");
    spec.entities.push_back(name);
  }
  return spec;
}

}  // namespace tide::env
