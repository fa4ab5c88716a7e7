// Pronounceable fictional names built from syllables: organisations ("Orvana Dynamics"),
// people ("Mara Kellen"), cities ("Tessaport"), and near-names that a careless reader
// confuses with a given organisation ("Orvana Dynamics Group", "Orvanna Dynamics",
// "Orvana Dynamic Systems"). Every draw comes from the SeededRandom passed in, so names are
// reproducible from the seed.
//
// Pure functions of the generator state; thread-safe as long as each thread has its own
// SeededRandom.
#pragma once

#include <string>

#include "tide/env/seeded_random.h"

namespace tide::env {

// One capitalised word of `min_syllables`..`max_syllables` syllables.
std::string SyllableWord(SeededRandom& rng, int min_syllables, int max_syllables);
std::string OrganisationName(SeededRandom& rng);  // "<Word> <Suffix>"
std::string PersonName(SeededRandom& rng);        // "<Given> <Family>"
std::string CityName(SeededRandom& rng);          // one word
// A different name that shares most of `name`'s words or letters.
std::string NearName(SeededRandom& rng, const std::string& name);

}  // namespace tide::env
