// Runs a shell command for the end-to-end tests and returns its standard output;
// *status gets pclose's wait status.
#pragma once

#include <array>
#include <cstdio>
#include <string>

namespace tide::e2e {

inline std::string Shell(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = pclose(p);
  return out;
}

}  // namespace tide::e2e
