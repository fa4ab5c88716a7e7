#include "tide/env/search_index.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace tide::env {

std::vector<std::string> SearchIndex::Tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) {
      cur.push_back(static_cast<char>(std::tolower(c)));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

SearchIndex::SearchIndex(const std::vector<Document>& documents) {
  double total = 0;
  for (size_t d = 0; d < documents.size(); ++d) {
    std::map<std::string, int> tf;
    std::vector<std::string> title = Tokenize(documents[d].title);
    for (const std::string& t : title) tf[t] += kTitleWeight;
    std::vector<std::string> body = Tokenize(documents[d].text);
    for (const std::string& t : body) tf[t] += 1;
    for (const auto& [term, n] : tf) postings_[term].push_back({d, n});
    double len = static_cast<double>(kTitleWeight * title.size() + body.size());
    length_.push_back(len);
    total += len;
    title_tokens_.push_back(std::move(title));
  }
  average_length_ = documents.empty() ? 1 : std::max(1.0, total / static_cast<double>(documents.size()));
}

std::vector<SearchHit> SearchIndex::Search(std::string_view query, size_t limit) const {
  std::vector<std::string> q = Tokenize(query);
  if (q.empty() || limit == 0) return {};
  std::vector<std::string> terms = q;
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());

  const double n = static_cast<double>(length_.size());
  std::vector<double> score(length_.size(), 0.0);
  double best_possible = 0;
  for (const std::string& term : terms) {
    auto it = postings_.find(term);
    if (it == postings_.end()) continue;
    double df = static_cast<double>(it->second.size());
    double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    best_possible += idf * (kK1 + 1);
    for (const Posting& p : it->second) {
      double tf = p.tf;
      double norm = kK1 * (1 - kB + kB * length_[p.doc] / average_length_);
      score[p.doc] += idf * tf * (kK1 + 1) / (tf + norm);
    }
  }
  std::vector<SearchHit> hits;
  for (size_t d = 0; d < score.size(); ++d) {
    if (score[d] <= 0) continue;
    if (title_tokens_[d] == q) score[d] += best_possible;
    hits.push_back({d, score[d]});
  }
  size_t k = std::min(limit, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k), hits.end(),
                    [](const SearchHit& a, const SearchHit& b) {
                      return a.score != b.score ? a.score > b.score : a.doc < b.doc;
                    });
  hits.resize(k);
  return hits;
}

}  // namespace tide::env
