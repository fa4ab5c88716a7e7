// SearchIndex: an inverted index with BM25 ranking over documents' titles and texts (the
// title's words count twice). A document whose title equals the query (same words, case
// and punctuation ignored) gets a boost as large as the best score any document can reach
// for that query, so an exact title match always ranks first.
//
// Built once, then immutable: Search is const and safe from any number of threads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tide/env/corpus.h"

namespace tide::env {

struct SearchHit {
  size_t doc = 0;  // index into the documents the index was built from
  double score = 0;
};

class SearchIndex {
 public:
  static constexpr double kK1 = 1.2;
  static constexpr double kB = 0.75;
  static constexpr int kTitleWeight = 2;

  explicit SearchIndex(const std::vector<Document>& documents);

  // At most `limit` hits with a positive score, best first; ties by document order.
  std::vector<SearchHit> Search(std::string_view query, size_t limit) const;

  // Lowercase runs of letters and digits (bytes >= 0x80 count as letters, so UTF-8 words
  // stay whole).
  static std::vector<std::string> Tokenize(std::string_view text);

 private:
  struct Posting {
    size_t doc;
    int tf;
  };
  std::unordered_map<std::string, std::vector<Posting>> postings_;
  std::vector<std::vector<std::string>> title_tokens_;
  std::vector<double> length_;
  double average_length_ = 0;
};

}  // namespace tide::env
