// henbtrust sim fleet: a fleet of simulated H(e)NBs in one process, each a
// soft TrE with A/B slots and the update agent, for demonstrations and
// load. A simulated factory issues each EK certificate from a manufacturer
// CA; each device then enrolls with the server and polls it until the
// fleet is idle.
#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/sim/fleet.h"

namespace henbtrust::cli {

namespace {

int RunFleetCommand(FleetOptions options, const std::string& ready_file) {
  const auto timeout = options.timeout;
  options.on_enrolled = [&ready_file](const FleetEnrolled& e) {
    std::cout << "enrolled " << e.devices << " simulated devices (soft TrE, release " << e.version
              << "; EK certificates from " << e.manufacturer << ")" << std::endl;
    if (!ready_file.empty()) (void)WriteFileAtomic(ready_file, AsBytes("ready\n"));
  };
  options.on_action = [](const std::string& device, const std::string& what) {
    std::cout << "  " << device << ": " << what << std::endl;
  };
  auto result = RunFleet(options);
  if (!result.ok()) return Fail(result.error());
  if (!result->idle) {
    std::cout << "sim fleet: still busy after " << timeout.count() << " s\n";
    return kExitInvalid;
  }
  std::cout << "fleet idle; devices run:";
  for (const auto& [v, n] : result->running) std::cout << " " << v << " x" << n;
  std::cout << "; modes:";
  for (const auto& [m, n] : result->modes) std::cout << " " << m << " x" << n;
  std::cout << std::endl;
  if (result->compromised > 0) {
    std::cout << "compromised " << result->compromised << ", recovered " << result->recovered
              << "; resets of healthy devices " << result->healthy_resets
              << ", most resets of one device " << result->max_resets << std::endl;
    // Healthy devices may reset once in an outage (docs/recovery.md); a
    // compromised device not back in service is a failure.
    if (result->recovered != result->compromised) return kExitInvalid;
  }
  return kExitOk;
}

}  // namespace

void RegisterSimCommands(CLI::App& app, int* exit_code) {
  CLI::App* sim = app.add_subcommand("sim", "Simulated H(e)NBs for demonstrations and load");
  sim->require_subcommand(1);
  auto a = std::make_shared<FleetOptions>();
  auto interval_ms = std::make_shared<int>(200);
  auto timeout_s = std::make_shared<int>(300);
  auto idle_s = std::make_shared<int>(0);
  auto ready_file = std::make_shared<std::string>();
  CLI::App* fleet = sim->add_subcommand(
      "fleet",
      "Provision, enroll and run a fleet of soft-TrE devices with update agents until idle");
  fleet->add_option("--dir", a->dir, "where the devices' slots and state go")->required();
  fleet
      ->add_option("--server", a->servers,
                   "host:port of henbtrust server (or of henbtrust oam); repeatable: devices "
                   "are spread over the OAMs and move to the next when theirs cannot be reached")
      ->capture_default_str();
  fleet->add_option("--pve", a->pve, "host:port of the PVE, when it is not the server");
  fleet->add_option("--ca", a->ca, "the server's CA (ca.pem of the server directory)")->required();
  fleet->add_option("--oam-key", a->oam_key, "verifies deployment orders (oam.pub)")->required();
  fleet->add_option("--trust-root", a->trust_root, "the vendor trust root")->required();
  fleet->add_option("--bundle", a->bundle, "the factory release every device starts with")
      ->required();
  fleet->add_option("--manufacturer-ca", a->manufacturer_ca, "the simulated factory's CA (PEM)")
      ->required();
  fleet->add_option("--manufacturer-key", a->manufacturer_key, "its private key (PEM)")->required();
  fleet->add_option("--count", a->count, "devices")->capture_default_str();
  fleet->add_option("--threads", a->threads, "devices whose turn runs at once in a round")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  fleet
      ->add_option("--max-connections", a->max_connections,
                   "connections the fleet keeps open at most; a device beyond it reconnects at "
                   "its next turn")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  fleet->add_option("--prefix", a->prefix, "device ids are PREFIX-0001 ...")->capture_default_str();
  fleet->add_option("--interval-ms", *interval_ms, "pause between polling rounds")
      ->capture_default_str();
  fleet->add_option("--timeout", *timeout_s, "seconds before giving up")->capture_default_str();
  fleet
      ->add_option("--idle-seconds", *idle_s,
                   "stop once every device has been idle this long (0: after one idle round)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  fleet->add_option("--ready-file", *ready_file, "written once every device has enrolled");
  fleet->add_option("--tamper-download", a->tamper,
                    "device whose first download is altered in transit (repeatable)");
  fleet->add_option("--implant", a->implant,
                    "device whose installed image is altered before the trial boot (repeatable)");
  fleet->add_option("--lie", a->lie,
                    "device that also reports 'installed' after falling back (repeatable)");
  fleet->add_option("--compromise", a->compromise,
                    "device whose OS is taken over after enrollment: a component changes and it "
                    "ignores every command; the watchdog brings it back (repeatable)");
  fleet
      ->add_option("--ticket-period", a->ticket_period,
                   "seconds of each device's first watchdog period (match the server's "
                   "--ticket-period)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{30} * 24 * 3600));
  fleet->add_flag("--keep-credentials", a->keep_credentials,
                  "each device also keeps its certificate and key in its directory (device.pem, "
                  "device.key, client-ca.pem), as henbtrust agent run does: for an IPsec client");
  fleet->add_flag(
      "--files-in-memory", a->files_in_memory,
      "the devices keep their files in this process's memory, each release's images "
      "once, rather than under --dir on disk: for large fleets (what a device writes is "
      "then lost when the fleet exits)");
  OnRun(fleet, exit_code, [a, interval_ms, timeout_s, idle_s, ready_file] {
    FleetOptions options = *a;
    options.interval = std::chrono::milliseconds(*interval_ms);
    options.timeout = std::chrono::seconds(*timeout_s);
    options.idle_for = std::chrono::seconds(*idle_s);
    return RunFleetCommand(std::move(options), *ready_file);
  });
  RegisterSimRunCommand(*sim, exit_code);
  RegisterSimRevalidateCommand(*sim, exit_code);
}

}  // namespace henbtrust::cli
