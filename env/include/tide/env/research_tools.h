// The research world's tools over one corpus, as workers::Tool objects:
//   search(query: string, limit?: integer 1..20, default 8)
//     -> a JSON array of {doc_id, title, snippet}, BM25-ranked (search_index.h);
//   open(doc_id: string)
//     -> {"doc_id", "title", "text"} of the document, or a NOT_FOUND error for an unknown id.
//
// Thread safety: the tools only read an immutable IndexedCorpus, so one tool object serves
// any number of agents at once.
#pragma once

#include <memory>

#include "tide/env/corpus.h"
#include "tide/env/search_index.h"
#include "tide/workers/tool.h"

namespace tide::env {

inline constexpr char kSearchToolName[] = "search";
inline constexpr char kOpenToolName[] = "open";
inline constexpr int kSearchDefaultLimit = 8;
inline constexpr int kSearchMaxLimit = 20;

// A corpus and its search index, built together and shared by the tools.
struct IndexedCorpus {
  explicit IndexedCorpus(Corpus c) : corpus(std::move(c)), index(corpus.documents) {}
  Corpus corpus;
  SearchIndex index;
};

std::shared_ptr<workers::Tool> MakeSearchTool(std::shared_ptr<const IndexedCorpus> corpus);
std::shared_ptr<workers::Tool> MakeOpenTool(std::shared_ptr<const IndexedCorpus> corpus);

// Up to ~200 characters of `text` around the first word of `query` it contains (the
// opening of the text when none), with "..." where it was cut.
std::string Snippet(std::string_view text, std::string_view query);

}  // namespace tide::env
