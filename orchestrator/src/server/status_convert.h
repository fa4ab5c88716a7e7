// Maps tide::Status onto grpc::Status (the codes are the same numbers).
#pragma once

#include <grpcpp/support/status.h>

#include "tide/core/status.h"

namespace tide::orchestrator {

inline grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())), s.message());
}

}  // namespace tide::orchestrator
