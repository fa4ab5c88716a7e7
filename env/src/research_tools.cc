#include "tide/env/research_tools.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace tide::env {
namespace {

constexpr size_t kSnippetLength = 200;
constexpr size_t kSnippetLead = 60;

bool IsWordByte(char ch) {
  unsigned char c = static_cast<unsigned char>(ch);
  return std::isalnum(c) || c >= 0x80;
}

class SearchTool : public workers::Tool {
 public:
  explicit SearchTool(std::shared_ptr<const IndexedCorpus> corpus) : corpus_(std::move(corpus)) {
    spec_.name = kSearchToolName;
    spec_.description =
        "Search the document collection. Returns a JSON array of {doc_id, title, snippet}, best match "
        "first; a document whose title equals the query ranks first. Open a hit to read it in full.";
    spec_.parameters = {
        {"type", "object"},
        {"properties",
         {{"query", {{"type", "string"}, {"minLength", 1}, {"description", "words to look for, e.g. a name"}}},
          {"limit",
           {{"type", "integer"},
            {"minimum", 1},
            {"maximum", kSearchMaxLimit},
            {"default", kSearchDefaultLimit},
            {"description", "how many hits to return"}}}}},
        {"required", {"query"}},
        {"additionalProperties", false},
    };
  }

  const workers::ToolSpec& spec() const override { return spec_; }

  Result<std::string> Call(const nlohmann::json& arguments) override {
    auto q = arguments.find("query");
    if (q == arguments.end() || !q->is_string()) return InvalidArgument("search: query must be a string");
    int64_t limit = kSearchDefaultLimit;
    auto l = arguments.find("limit");
    if (l != arguments.end() && !l->is_null()) {
      if (!l->is_number_integer()) return InvalidArgument("search: limit must be an integer");
      limit = l->get<int64_t>();
      if (limit < 1 || limit > kSearchMaxLimit) {
        return InvalidArgument("search: limit must be in 1.." + std::to_string(kSearchMaxLimit) + ", got " +
                               std::to_string(limit));
      }
    }
    const std::string query = q->get<std::string>();
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const SearchHit& hit : corpus_->index.Search(query, static_cast<size_t>(limit))) {
      const Document& d = corpus_->corpus.documents[hit.doc];
      out.push_back({{"doc_id", d.doc_id}, {"title", d.title}, {"snippet", Snippet(d.text, query)}});
    }
    return out.dump();
  }

 private:
  std::shared_ptr<const IndexedCorpus> corpus_;
  workers::ToolSpec spec_;
};

class OpenTool : public workers::Tool {
 public:
  explicit OpenTool(std::shared_ptr<const IndexedCorpus> corpus) : corpus_(std::move(corpus)) {
    spec_.name = kOpenToolName;
    spec_.description = "Open a document by its doc_id (from search results). Returns {doc_id, title, text}.";
    spec_.parameters = {
        {"type", "object"},
        {"properties", {{"doc_id", {{"type", "string"}, {"description", "e.g. \"doc-0042\""}}}}},
        {"required", {"doc_id"}},
        {"additionalProperties", false},
    };
  }

  const workers::ToolSpec& spec() const override { return spec_; }

  Result<std::string> Call(const nlohmann::json& arguments) override {
    auto id = arguments.find("doc_id");
    if (id == arguments.end() || !id->is_string()) return InvalidArgument("open: doc_id must be a string");
    const std::string doc_id = id->get<std::string>();
    const Document* d = corpus_->corpus.FindDocument(doc_id);
    if (d == nullptr) {
      return NotFound("open: no document with doc_id \"" + doc_id + "\"; use a doc_id from search results");
    }
    return nlohmann::ordered_json{{"doc_id", d->doc_id}, {"title", d->title}, {"text", d->text}}.dump();
  }

 private:
  std::shared_ptr<const IndexedCorpus> corpus_;
  workers::ToolSpec spec_;
};

}  // namespace

std::string Snippet(std::string_view text, std::string_view query) {
  std::string lower(text.size(), ' ');
  std::transform(text.begin(), text.end(), lower.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  size_t first = std::string::npos;
  for (const std::string& word : SearchIndex::Tokenize(query)) {
    for (size_t pos = lower.find(word); pos != std::string::npos; pos = lower.find(word, pos + 1)) {
      bool starts = pos == 0 || !IsWordByte(lower[pos - 1]);
      bool ends = pos + word.size() == lower.size() || !IsWordByte(lower[pos + word.size()]);
      if (starts && ends) {
        first = std::min(first, pos);
        break;
      }
    }
  }
  size_t begin = 0;
  if (first != std::string::npos && first > kSnippetLead) {
    begin = first - kSnippetLead;
    while (begin < first && IsWordByte(text[begin])) ++begin;  // start on a word boundary
  }
  size_t end = std::min(text.size(), begin + kSnippetLength);
  while (end < text.size() && end > begin && IsWordByte(text[end])) --end;  // end on a boundary
  if (end == begin) end = std::min(text.size(), begin + kSnippetLength);
  std::string out = begin > 0 ? "..." : "";
  for (size_t i = begin; i < end; ++i) out.push_back(text[i] == '\n' ? ' ' : text[i]);
  if (end < text.size()) out += "...";
  return out;
}

std::shared_ptr<workers::Tool> MakeSearchTool(std::shared_ptr<const IndexedCorpus> corpus) {
  return std::make_shared<SearchTool>(std::move(corpus));
}

std::shared_ptr<workers::Tool> MakeOpenTool(std::shared_ptr<const IndexedCorpus> corpus) {
  return std::make_shared<OpenTool>(std::move(corpus));
}

}  // namespace tide::env
