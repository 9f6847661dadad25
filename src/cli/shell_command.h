// Private to the CLI: running an operator's shell command (segw-watch's
// list and cut commands) with a deadline.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust::cli {

// The most output RunShellCommand keeps (a gateway of 100,000 tunnels at
// about 40 bytes a line lists 4 MB).
inline constexpr size_t kMaxCommandOutputBytes = size_t{64} << 20;

// Runs `command` through /bin/sh with `extra_env` ("NAME=value") added to
// this process's environment, only stdin, stdout and stderr inherited, and
// default handling of SIGINT, SIGTERM, SIGPIPE and SIGHUP. With `out`, its
// stdout is captured there (at most kMaxCommandOutputBytes). Fails (kIo,
// saying why) unless it exits 0 within `seconds`; past that, it is killed
// with every process it started (its own process group).
Status RunShellCommand(const std::string& command, const std::vector<std::string>& extra_env,
                       std::string* out, int seconds);

}  // namespace henbtrust::cli
