// Where a demonstration, the fleet simulator or a test may step into an
// UpdateAgent's work: after a download, after an install, before a report.
// A production agent has none. InjectedFaults is the one the demonstration
// uses: a bundle altered in transit, an image altered after install, a
// device that lies in its report.
#pragma once

#include <string>

#include "henbtrust/device/device.h"
#include "henbtrust/net/oam_protocol.h"

namespace henbtrust {

class UpdateAgentHooks {
 public:
  virtual ~UpdateAgentHooks() = default;
  // A bundle download is complete in `path` (a file of `env`, the
  // device's), not yet verified.
  virtual void Downloaded(Env& env, const std::string& path) {
    (void)env;
    (void)path;
  }
  // Step 6 installed into `slot`; the trial boot (step 7) comes next.
  virtual void Installed(Device& device, const std::string& slot) {
    (void)device;
    (void)slot;
  }
  // `report` is about to be sent; a hook may change it.
  virtual void Reporting(AgentReport& report) { (void)report; }
};

// Each fault fires once, at the next occasion, then clears itself.
class InjectedFaults final : public UpdateAgentHooks {
 public:
  bool corrupt_next_download = false;  // one bit of the bundle flipped (refused at step 6)
  bool implant_after_install = false;  // the last component's image appended to (caught at 7)
  bool lie_in_next_report = false;     // "installed" whatever happened (caught at step 9)

  void Downloaded(Env& env, const std::string& path) override;
  void Installed(Device& device, const std::string& slot) override;
  void Reporting(AgentReport& report) override;
};

}  // namespace henbtrust
