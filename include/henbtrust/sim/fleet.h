// A fleet of simulated H(e)NBs in one process, for demonstrations, load and
// tests: each a soft TrE with A/B slots and the update agent. A simulated
// factory issues each EK certificate from a manufacturer CA; each device then
// enrolls with the PVE and polls the OAM until the fleet is idle.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust {

// Once every device has enrolled.
struct FleetEnrolled {
  int devices = 0;
  std::string version = {};       // the factory release every device runs
  std::string manufacturer = {};  // the common name of the factory's CA
};

struct FleetOptions {
  std::string dir;  // the devices' directories, DIR/PREFIX-0001 ...; replaced if present
  // host:port of the OAM (and of the PVE, by default). With several OAMs
  // on one store, device i starts with the (i mod n)th and moves to the next
  // when a poll cannot reach the one it has.
  std::vector<std::string> servers = {"127.0.0.1:8443"};
  std::string pve = {};  // host:port of the PVE, when it is not the first server
  // PEM files: the server CA, the OAM's order key (oam.pub), and the
  // simulated factory's CA and private key.
  std::string ca = {};
  std::string oam_key = {};
  std::string manufacturer_ca = {};
  std::string manufacturer_key = {};
  std::string trust_root = {};  // the vendor trust root
  std::string bundle = {};      // the factory release every device starts with
  std::string prefix = "henb";
  int count = 10;
  // Devices whose turn runs at once in a round (each on its own thread).
  int threads = 8;
  // Connections the devices keep open at most (beyond it, by up to
  // `threads`, while turns run): a device over the bound closes its
  // connections after its turn and opens them again at its next. Every
  // device shares one TLS context; a connection costs its socket and its
  // TLS state only.
  int max_connections = 1024;
  std::chrono::milliseconds interval{200};  // pause between polling rounds
  std::chrono::seconds timeout{300};        // busy for longer: RunFleet returns idle = false
  // How long every device must have been idle before the fleet stops (0:
  // one whole idle round), so that work the operator orders after a first
  // lull (a revocation's campaign, say) is still carried out.
  std::chrono::seconds idle_for{0};
  // Devices (by id) whose first download is altered in transit, whose
  // installed image is altered before the trial boot, and that also report
  // "installed" after falling back.
  std::vector<std::string> tamper = {};
  std::vector<std::string> implant = {};
  std::vector<std::string> lie = {};
  // The watchdog (docs/recovery.md): every device has a boot stage whose
  // first ticket period is this (the server's --ticket-period should
  // match; later tickets carry the server's own). Devices in `compromise`
  // have their OS taken over right after enrollment: a component of the
  // active slot changes and the OS ignores every command from then on;
  // only the watchdog and the recovery image act for them. The run ends
  // once every such device is back in service (and the fleet is idle).
  int64_t ticket_period = 86400;
  std::vector<std::string> compromise = {};
  // Each device also keeps its certificate and key in its directory, as
  // `henbtrust agent run` does (device.pem, device.key, client-ca.pem): for
  // an IPsec client beside the agent (docs/segw.md).
  bool keep_credentials = false;
  // The devices' files (DIR/ID/...) in this process's memory rather than on
  // disk, each release's images kept once (sim/memory_env.h): for fleets
  // larger than the disk would hold, and without the file system's cost.
  // The credentials of keep_credentials still go to the disk.
  bool files_in_memory = false;
  // Progress: once enrolled (on the caller's thread); and for every poll
  // that failed or did something beyond waiting and attesting, with the
  // agent's account of it (on the fleet's threads, one call at a time).
  std::function<void(const FleetEnrolled&)> on_enrolled = nullptr;
  std::function<void(const std::string& device, const std::string& what)> on_action = nullptr;
};

struct FleetResult {
  int devices = 0;
  bool idle = false;  // every device had work and then a whole round was idle
  int rounds = 0;
  int polls = 0;
  int errors = 0;                           // polls that failed
  int failovers = 0;                        // devices that moved to another OAM
  std::map<std::string, int> actions = {};  // successful polls by action ("install", ...)
  std::map<std::string, int> running = {};  // devices by the version they run at the end
  int fell_back = 0;                        // devices whose last trial boot fell back
  int compromised = 0;                      // devices whose OS was taken over
  int recovered = 0;                        // ... of which are back in normal service
  int healthy_resets = 0;                   // resets into recovery of the other devices
  int max_resets = 0;                       // the most resets of any one device
  std::map<std::string, int> modes = {};    // devices by boot-stage mode at the end
  double enroll_seconds = 0;                // provisioning and enrollment
  double run_seconds = 0;                   // polling until idle

  double EnrollmentsPerSecond() const;
  double PollsPerSecond() const;
};

// Provisions `count` devices on the factory release, enrolls them and runs
// their agents until the fleet is idle or the timeout passes. Errors
// (files, keys, enrollment of a device) stop the run before polling starts;
// a failed poll is counted and the device polls again.
Result<FleetResult> RunFleet(const FleetOptions& options);

}  // namespace henbtrust
