// henbtrust sim revalidate: a fleet of compact simulated H(e)NBs
// (sim/compact_fleet.h) enrolls with the PVE in this process, then every
// device is appraised once: the server side of a fleet-wide revalidation, at
// up to millions of devices (docs/simulation.md, "A million devices").
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/sim/compact_fleet.h"

namespace henbtrust::cli {

namespace {

struct RevalidateArgs {
  int devices = 100'000;
  int threads = 2;
  std::string work = "sim-out/revalidate.work";
  std::string json;
  bool quiet = false;
};

double PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

void PrintPass(const char* what, const FleetPass& p) {
  std::cout << what << " " << p.succeeded << " of " << p.devices << " in " << p.wall_seconds
            << " s (" << static_cast<int64_t>(p.PerSecond()) << "/s)";
  if (p.failed > 0) std::cout << "; " << p.failed << " failed, the first: " << p.first_failure;
  std::cout << std::endl;
}

int RunRevalidate(const RevalidateArgs& a) {
  CompactFleetOptions options;
  options.work_dir = a.work;
  options.devices = a.devices;
  options.threads = a.threads;
  if (!a.quiet) {
    options.progress = [](const std::string& line) { std::cout << "  " << line << std::endl; };
  }
  auto fleet = CompactFleet::Create(options);
  if (!fleet.ok()) return Fail(fleet.error());
  auto enrolled = (*fleet)->Enroll();
  if (!enrolled.ok()) return Fail(enrolled.error());
  PrintPass("enrolled", *enrolled);
  auto appraised = (*fleet)->Revalidate();
  if (!appraised.ok()) return Fail(appraised.error());
  PrintPass("appraised (affirming)", *appraised);
  const double cpu = appraised->succeeded > 0
                         ? appraised->pve_cpu_us / static_cast<double>(appraised->succeeded)
                         : 0;
  std::cout << "PVE CPU " << static_cast<int64_t>(cpu) << " us per appraisal; fleet table "
            << static_cast<int64_t>((*fleet)->TableBytesPerDevice()) << " bytes per device; store "
            << static_cast<int64_t>((*fleet)->StoreBytesPerDevice())
            << " bytes per device; peak resident memory "
            << static_cast<int64_t>(PeakRssBytes() / (1 << 20)) << " MiB" << std::endl;
  if (!a.json.empty()) {
    const nlohmann::ordered_json j = {
        {"devices", a.devices},
        {"threads", a.threads},
        {"enroll_seconds", enrolled->wall_seconds},
        {"enrolled", enrolled->succeeded},
        {"revalidate_seconds", appraised->wall_seconds},
        {"appraised", appraised->succeeded},
        {"failed", appraised->failed + enrolled->failed},
        {"appraisals_per_second", appraised->PerSecond()},
        {"pve_cpu_us_per_appraisal", cpu},
        {"table_bytes_per_device", (*fleet)->TableBytesPerDevice()},
        {"store_bytes_per_device", (*fleet)->StoreBytesPerDevice()},
        {"peak_rss_bytes", PeakRssBytes()},
    };
    if (auto st = WriteFileAtomic(a.json, AsBytes(j.dump(2) + "\n")); !st.ok()) {
      return Fail(st.error());
    }
  }
  return enrolled->failed == 0 && appraised->failed == 0 ? kExitOk : kExitInvalid;
}

}  // namespace

void RegisterSimRevalidateCommand(CLI::App& sim, int* exit_code) {
  auto a = std::make_shared<RevalidateArgs>();
  CLI::App* cmd = sim.add_subcommand(
      "revalidate",
      "Enroll a fleet of compact simulated H(e)NBs with the PVE in this process, then appraise "
      "every device once (a fleet-wide revalidation); exits 1 when a device fails either");
  cmd->add_option("--devices", a->devices, "fleet size")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--threads", a->threads, "devices enrolled and appraised at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--work", a->work, "the server directory and store (replaced)")
      ->capture_default_str();
  cmd->add_option("--json", a->json, "also write the figures to this file");
  cmd->add_flag("--quiet", a->quiet, "no progress lines");
  OnRun(cmd, exit_code, [a] { return RunRevalidate(*a); });
}

}  // namespace henbtrust::cli
