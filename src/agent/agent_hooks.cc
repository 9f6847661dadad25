#include "henbtrust/agent/agent_hooks.h"

#include <filesystem>
#include <fstream>

namespace henbtrust {

void InjectedFaults::Downloaded(const std::string& path) {
  if (!corrupt_next_download) return;
  corrupt_next_download = false;
  std::error_code ec;
  const auto size = static_cast<std::streamoff>(std::filesystem::file_size(path, ec));
  if (ec || size == 0) return;
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(size - 1);
  char c = 0;
  f.get(c);
  f.seekp(size - 1);
  f.put(static_cast<char>(c ^ 0x01));
}

void InjectedFaults::Installed(Device& device, const std::string& slot) {
  if (!implant_after_install) return;
  implant_after_install = false;
  const auto manifest = device.SlotManifest(slot);
  if (manifest && !manifest->components.empty()) {
    std::ofstream(device.SlotDir(slot) + "/" + manifest->components.back().id + ".img",
                  std::ios::app | std::ios::binary)
        << "implant";
  }
}

void InjectedFaults::Reporting(AgentReport& report) {
  if (!lie_in_next_report || report.kind == ReportKind::kRejected) return;
  if (report.kind != ReportKind::kInstalled && report.kind != ReportKind::kFellBack) return;
  lie_in_next_report = false;
  report.kind = ReportKind::kInstalled;
}

}  // namespace henbtrust
