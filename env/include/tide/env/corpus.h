// The research world's ground truth and documents: fictional organisations with typed
// attributes, one profile document per organisation (titled exactly with its name), and
// distractors: near-name organisations with their own profiles and values, and news
// documents that mention an organisation with other numbers but are not its profile.
//
// GenerateCorpus is deterministic: the same SeededRandom state and options give the same
// corpus, byte for byte, on every machine. A Corpus is immutable once generated and then
// safe to read from any number of threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tide/env/seeded_random.h"

namespace tide::env {

struct Entity {
  std::string name;
  std::vector<std::string> values;  // canonical cell text, in ResearchAttributes() order
  int near_of = -1;                 // the entity whose name this one imitates, or -1
};

struct Document {
  std::string doc_id;  // "doc-0001", ...
  std::string title;
  std::string text;
  bool is_profile = false;
  int entity = -1;  // the entity the document is about
};

struct Corpus {
  std::vector<Entity> entities;
  std::vector<Document> documents;  // documents[i].doc_id == DocId(i)
  std::vector<int> task_entities;   // indices into entities, in task order

  // nullptr for an unknown id.
  const Document* FindDocument(std::string_view doc_id) const;
  // The profile document of entity `e`, or nullptr.
  const Document* ProfileOf(int e) const;
};

struct CorpusOptions {
  int task_entities = 20;  // entities a task asks about, drawn from the base entities
  int base_entities = 60;  // must be >= task_entities
  int near_names = 20;     // near-name entities: first of the task entities, then others
  int news = 20;           // news documents
};

std::string DocId(size_t index);

Corpus GenerateCorpus(SeededRandom& rng, const CorpusOptions& options);

}  // namespace tide::env
