#include "tide/env/world.h"

#include "tide/env/api_world.h"
#include "tide/env/compute_world.h"
#include "tide/env/research_world.h"

namespace tide::env {

std::vector<const World*> Worlds() {
  static const ResearchWorld kResearch;
  static const ApiWorld kApi;
  static const ComputeWorld kCompute;
  return {&kResearch, &kApi, &kCompute};
}

Result<const World*> FindWorld(const std::string& name) {
  std::string known;
  for (const World* w : Worlds()) {
    if (w->name() == name) return w;
    known += (known.empty() ? "" : ", ") + w->name();
  }
  return NotFound("unknown world \"" + name + "\" (known: " + known + ")");
}

}  // namespace tide::env
