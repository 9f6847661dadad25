// The directory a simulation run works in (its server, store, releases and
// devices), which each run replaces. A run marks the directory as its own,
// so that a mistyped --work (".", a home directory) is refused, not wiped.
#pragma once

#include <string>

#include "henbtrust/core/result.h"

namespace henbtrust::sim {

// Makes `dir` an empty directory for a run: creates it if it is missing,
// empties it if it is empty already or an earlier run marked it, and marks
// it. kInvalidArgument for a directory with other contents, or a file.
Status PrepareWorkDir(const std::string& dir);

}  // namespace henbtrust::sim
