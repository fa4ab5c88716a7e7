#include "tide/env/profile_reader.h"

#include <gtest/gtest.h>

#include "tide/env/cell_values.h"
#include "tide/env/corpus.h"
#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

TEST(ProfileReaderTest, ReadsEachPhrasing) {
  std::string text =
      "Orvana Dynamics is a privately held company. It was started by Mara Kellen, who served as its first "
      "chief executive. Its headcount stands at 12,500.\n\nThe company's revenue was $345.6 million in its last "
      "fiscal year. It has been operating since 4 March 2011. Orvana Dynamics is based in Tessaport. Its main "
      "line of business is financial services.";
  EXPECT_EQ(ReadAttribute(text, "Orvana Dynamics", "founder"), "Mara Kellen");
  EXPECT_EQ(ReadAttribute(text, "Orvana Dynamics", "employees"), 12500);
  EXPECT_EQ(ReadAttribute(text, "Orvana Dynamics", "revenue"), 345.6);
  EXPECT_EQ(ReadAttribute(text, "Orvana Dynamics", "founded"), "2011-03-04");
  EXPECT_EQ(ReadAttribute(text, "Orvana Dynamics", "headquarters"), "Tessaport");
  EXPECT_EQ(ReadAttribute(text, "Orvana Dynamics", "sector"), "financial services");
  EXPECT_EQ(ReadAttributeText(text, "Orvana Dynamics", "employees"), "12,500");
}

TEST(ProfileReaderTest, NameBoundSentencesNeedTheRightName) {
  std::string text = "Orvana Dynamics Group is headquartered in Belport.";
  EXPECT_TRUE(ReadAttribute(text, "Orvana Dynamics", "headquarters").is_null());
  EXPECT_EQ(ReadAttribute(text, "Orvana Dynamics Group", "headquarters"), "Belport");
}

TEST(ProfileReaderTest, MissingOrUnknownIsNull) {
  EXPECT_TRUE(ReadAttribute("Nothing here.", "X Labs", "founder").is_null());
  EXPECT_TRUE(ReadAttribute("X Labs employs many people.", "X Labs", "employees").is_null());
  EXPECT_TRUE(ReadAttribute("X Labs employs 5 people.", "X Labs", "colour").is_null());
}

TEST(ProfileReaderTest, RecoversEveryValueOfGeneratedProfiles) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SeededRandom rng(seed);
    Corpus c = GenerateCorpus(rng, CorpusOptions{});
    for (const Document& d : c.documents) {
      if (!d.is_profile) continue;
      const Entity& e = c.entities[static_cast<size_t>(d.entity)];
      for (size_t a = 0; a < ResearchAttributes().size(); ++a) {
        const AttributeInfo& info = ResearchAttributes()[a];
        nlohmann::json v = ReadAttribute(d.text, e.name, info.name);
        EXPECT_TRUE(CellEquals(info.type, e.values[a], v))
            << "seed " << seed << " " << e.name << "." << info.name << ": " << v << " vs " << e.values[a] << "\n"
            << d.text;
      }
    }
  }
}

}  // namespace
}  // namespace tide::env
