// Private to the agent: how a refusal of the PVE reads.
#pragma once

#include <string>

#include "henbtrust/net/http.h"

namespace henbtrust {

// kNetStatus: "<what> refused (HTTP <status>): <code>: <message>", from the
// PVE's error answer (or the start of its body when it is none).
Error PveRefusal(const std::string& what, const HttpResponse& answer);

}  // namespace henbtrust
