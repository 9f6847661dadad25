// A fleet scenario (docs/simulation.md): how many H(e)NBs, on which
// releases, and what happens to them at which moment of fleet time. Read
// from a TOML file under scenarios/; `henbtrust sim run` plays it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust {

enum class ScenarioEventKind {
  kCampaign,          // a campaign to `version` over the whole fleet
  kCompromise,        // `share` of the fleet: a component changes, the OS ignores every command
  kCorruptDownloads,  // `share` of the fleet: the next download is altered on the path
  kPowerLoss,         // `share` of the fleet: the power goes in the middle of the next install
  kRollback,          // an older signed release (`version`) is offered to every device
  kPveOutage,         // the PVE cannot be reached for `duration`
  kOamOutage,         // the OAM cannot be reached, and does not drive, for `duration`
  kOamCrash,          // the OAM process dies and a new one starts over the same store
  kRevoke,            // `version` is revoked; its campaign reinstalls `safe_version`
};
std::string_view ScenarioEventKindName(ScenarioEventKind kind);

struct ScenarioEvent {
  ScenarioEventKind kind = ScenarioEventKind::kCampaign;
  int64_t at = 0;  // seconds of fleet time after the fleet has enrolled
  int64_t duration = 0;
  double share = 0;  // of the fleet, in (0, 1]
  std::string version = {};
  std::string safe_version = {};
  int batch_size = 0;  // campaigns: 0 is the whole fleet at once
};

struct ScenarioRelease {
  std::string version;
  uint64_t counter = 0;  // the anti-rollback counter
};

struct Scenario {
  std::string name;
  std::string description = {};
  int devices = 100;
  uint64_t seed = 1;
  int64_t tick = 60;                      // seconds of fleet time per round of the fleet
  int64_t max_duration = 86'400;          // the run ends at the latest after this much fleet time
  int64_t ticket_period = 3'600;          // the watchdog's (docs/recovery.md)
  int64_t segw_max_age = 0;               // the gateway's bound on a result's age; 0: ticket_period
  std::string factory_version;            // the release every device starts on
  std::vector<ScenarioRelease> releases;  // signed by the simulator's vendor
  std::vector<ScenarioEvent> events;      // in order of `at`
};

// Parses and checks a scenario (TOML). kInvalidArgument naming the line, or
// the key, that is wrong.
Result<Scenario> ParseScenario(std::string_view text, std::string_view source = "scenario");
Result<Scenario> LoadScenario(const std::string& path);

}  // namespace henbtrust
