#include "tide/env/profile_templates.h"

#include <set>

#include <gtest/gtest.h>

#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

TEST(ProfileTemplatesTest, EveryAttributeHasSeveralWellFormedTemplates) {
  std::set<std::string> lead_ins;  // the words right before {v}
  for (const AttributeInfo& a : ResearchAttributes()) {
    const std::vector<std::string>& ts = ProfileTemplates(a.name);
    EXPECT_GE(ts.size(), 3u) << a.name;
    for (const std::string& t : ts) {
      size_t v = t.find("{v}");
      ASSERT_NE(v, std::string::npos) << t;
      EXPECT_EQ(t.find("{v}", v + 1), std::string::npos) << t;
      EXPECT_GT(v, 0u) << t;
      EXPECT_LT(v + 3, t.size()) << t;
      std::string before = t.substr(0, v);
      EXPECT_TRUE(lead_ins.insert(before).second) << "shared lead-in: " << before;
    }
  }
  EXPECT_TRUE(ProfileTemplates("colour").empty());
}

TEST(ProfileTemplatesTest, RenderTemplate) {
  EXPECT_EQ(RenderTemplate("{name} employs {v} people.", "Orvana Dynamics", "1,200"),
            "Orvana Dynamics employs 1,200 people.");
}

TEST(ProfileTemplatesTest, FillersMentionNoAttribute) {
  for (const std::string& f : ProfileFillerSentences()) {
    for (const AttributeInfo& a : ResearchAttributes()) {
      for (const std::string& t : ProfileTemplates(a.name)) {
        std::string lead = RenderTemplate(t.substr(0, t.find("{v}")), "X", "");
        EXPECT_EQ(f.find(lead), std::string::npos) << f;
      }
    }
  }
}

}  // namespace
}  // namespace tide::env
