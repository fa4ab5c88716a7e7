#include "tide/workers/tool.h"

namespace tide::workers {

std::future<ToolOutput> Tool::Start(const nlohmann::json& arguments) {
  std::promise<ToolOutput> promise;
  ToolOutput out;
  out.result = Call(arguments);  // an exception leaves Start; the registry turns it into an observation
  out.done = std::chrono::steady_clock::now();
  promise.set_value(std::move(out));
  return promise.get_future();
}

}  // namespace tide::workers
