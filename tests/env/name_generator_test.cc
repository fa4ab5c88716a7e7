#include "tide/env/name_generator.h"

#include <cctype>

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(NameGeneratorTest, NamesAreCapitalisedWordsAndReproducible) {
  SeededRandom a(11), b(11);
  for (int i = 0; i < 50; ++i) {
    std::string name = OrganisationName(a);
    EXPECT_EQ(name, OrganisationName(b));
    ASSERT_NE(name.find(' '), std::string::npos) << name;
    EXPECT_TRUE(std::isupper(static_cast<unsigned char>(name[0]))) << name;
    for (char c : name) EXPECT_TRUE(std::isalpha(static_cast<unsigned char>(c)) || c == ' ') << name;
  }
}

TEST(NameGeneratorTest, NearNamesDifferButShareTheRoot) {
  SeededRandom r(5);
  for (int i = 0; i < 100; ++i) {
    std::string name = OrganisationName(r);
    std::string near = NearName(r, name);
    EXPECT_NE(near, name);
    // Either the same first word, or a one-letter variation of it.
    std::string root = name.substr(0, name.find(' '));
    std::string near_root = near.substr(0, near.find(' '));
    EXPECT_LE(std::abs(static_cast<int>(root.size()) - static_cast<int>(near_root.size())), 1) << name << " / " << near;
    EXPECT_EQ(root[0], near_root[0]) << name << " / " << near;
  }
}

TEST(NameGeneratorTest, PeopleAndCities) {
  SeededRandom r(9);
  std::string person = PersonName(r);
  EXPECT_NE(person.find(' '), std::string::npos);
  std::string city = CityName(r);
  EXPECT_EQ(city.find(' '), std::string::npos);
  EXPECT_GE(city.size(), 3u);
}

}  // namespace
}  // namespace tide::env
