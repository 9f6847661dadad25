#include "henbtrust/agent/agent_hooks.h"

namespace henbtrust {

// The faults are the test's, not the device's: a file that cannot be read
// or written leaves the fault unfired, and the test that armed it fails.
void InjectedFaults::Downloaded(Env& env, const std::string& path) {
  if (!corrupt_next_download) return;
  corrupt_next_download = false;
  auto bytes = env.ReadFile(path, size_t{1} << 30);
  if (!bytes.ok() || bytes->empty()) return;
  bytes->back() ^= 0x01;
  (void)env.WriteFileAtomic(path, *bytes);
}

void InjectedFaults::Installed(Device& device, const std::string& slot) {
  if (!implant_after_install) return;
  implant_after_install = false;
  const auto manifest = device.SlotManifest(slot);
  if (!manifest || manifest->components.empty()) return;
  const std::string image = device.SlotDir(slot) + "/" + manifest->components.back().id + ".img";
  auto file = device.env()->NewAppendableFile(image);
  if (!file.ok()) return;
  (void)(*file)->Append(AsBytes("implant"));
  (void)(*file)->Close();
}

void InjectedFaults::Reporting(AgentReport& report) {
  if (!lie_in_next_report || report.kind == ReportKind::kRejected) return;
  if (report.kind != ReportKind::kInstalled && report.kind != ReportKind::kFellBack) return;
  lie_in_next_report = false;
  report.kind = ReportKind::kInstalled;
}

}  // namespace henbtrust
