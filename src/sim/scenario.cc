#include "henbtrust/sim/scenario.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>

#include "henbtrust/core/file.h"

namespace henbtrust {

namespace {

constexpr struct {
  ScenarioEventKind kind;
  std::string_view name;
} kEventKinds[] = {
    {ScenarioEventKind::kCampaign, "campaign"},
    {ScenarioEventKind::kCompromise, "compromise"},
    {ScenarioEventKind::kCorruptDownloads, "corrupt-downloads"},
    {ScenarioEventKind::kPowerLoss, "power-loss"},
    {ScenarioEventKind::kRollback, "rollback"},
    {ScenarioEventKind::kPveOutage, "pve-outage"},
    {ScenarioEventKind::kOamOutage, "oam-outage"},
    {ScenarioEventKind::kOamCrash, "oam-crash"},
    {ScenarioEventKind::kRevoke, "revoke"},
};

constexpr int kMaxDevices = 10'000'000;

// Reads a scenario's keys, each checked once; an error names the key.
class Reader {
 public:
  Reader(const toml::table& table, std::string where) : table_(table), where_(std::move(where)) {}

  Status Unknown(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : table_) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
        return Fail(std::string(key.str()), "is not a key of " + where_);
      }
    }
    return OkStatus();
  }

  Result<std::string> Text(std::string_view key, bool required, std::string fallback = {}) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (required) return Fail(key, "is missing");
      return fallback;
    }
    auto v = node->value<std::string>();
    if (!v) return Fail(key, "must be a string");
    return *v;
  }

  Result<int64_t> Int(std::string_view key, int64_t lo, int64_t hi,
                      std::optional<int64_t> fallback) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (!fallback) return Fail(key, "is missing");
      return *fallback;
    }
    if (!node->is_integer()) return Fail(key, "must be an integer");
    const int64_t v = node->as_integer()->get();
    if (v < lo || v > hi) {
      return Fail(key, "must be from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return v;
  }

  Result<double> Share(std::string_view key) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return Fail(key, "is missing");
    auto v = node->value<double>();
    if (!v || !(*v > 0 && *v <= 1)) return Fail(key, "must be a number in (0, 1]");
    return *v;
  }

  Error Fail(std::string_view key, const std::string& what) const {
    return Error(ErrorCode::kInvalidArgument, where_ + ": '" + std::string(key) + "' " + what);
  }

 private:
  const toml::table& table_;
  std::string where_;
};

Result<ScenarioEvent> ReadEvent(const toml::table& table, const std::string& where) {
  const Reader r(table, where);
  ScenarioEvent e;
  HENB_ASSIGN_OR_RETURN(std::string kind, r.Text("kind", true));
  const auto* known = std::find_if(std::begin(kEventKinds), std::end(kEventKinds),
                                   [&](const auto& k) { return k.name == kind; });
  if (known == std::end(kEventKinds)) {
    std::string names;
    for (const auto& k : kEventKinds) names += (names.empty() ? "" : ", ") + std::string(k.name);
    return r.Fail("kind", "'" + kind + "' is not one of " + names);
  }
  e.kind = known->kind;
  HENB_ASSIGN_OR_RETURN(e.at, r.Int("at", 0, int64_t{10} * 365 * 86'400, 0));
  switch (e.kind) {
    case ScenarioEventKind::kCampaign: {
      HENB_TRY(r.Unknown({"kind", "at", "version", "batch_size"}));
      HENB_ASSIGN_OR_RETURN(e.version, r.Text("version", true));
      HENB_ASSIGN_OR_RETURN(int64_t batch, r.Int("batch_size", 0, kMaxDevices, 0));
      e.batch_size = static_cast<int>(batch);
      break;
    }
    case ScenarioEventKind::kCompromise:
    case ScenarioEventKind::kCorruptDownloads:
    case ScenarioEventKind::kPowerLoss: {
      HENB_TRY(r.Unknown({"kind", "at", "share"}));
      HENB_ASSIGN_OR_RETURN(e.share, r.Share("share"));
      break;
    }
    case ScenarioEventKind::kRollback: {
      HENB_TRY(r.Unknown({"kind", "at", "version"}));
      HENB_ASSIGN_OR_RETURN(e.version, r.Text("version", true));
      break;
    }
    case ScenarioEventKind::kPveOutage:
    case ScenarioEventKind::kOamOutage: {
      HENB_TRY(r.Unknown({"kind", "at", "duration"}));
      HENB_ASSIGN_OR_RETURN(e.duration, r.Int("duration", 1, int64_t{365} * 86'400, std::nullopt));
      break;
    }
    case ScenarioEventKind::kOamCrash: {
      HENB_TRY(r.Unknown({"kind", "at"}));
      break;
    }
    case ScenarioEventKind::kRevoke: {
      HENB_TRY(r.Unknown({"kind", "at", "version", "safe_version"}));
      HENB_ASSIGN_OR_RETURN(e.version, r.Text("version", true));
      HENB_ASSIGN_OR_RETURN(e.safe_version, r.Text("safe_version", true));
      break;
    }
  }
  return e;
}

Result<Scenario> Read(const toml::table& root, std::string_view source) {
  const Reader r(root, std::string(source));
  HENB_TRY(r.Unknown({"name", "description", "devices", "seed", "tick", "max_duration",
                      "ticket_period", "segw_max_age", "factory_version", "release", "event"}));
  Scenario s;
  HENB_ASSIGN_OR_RETURN(s.name, r.Text("name", true));
  HENB_ASSIGN_OR_RETURN(s.description, r.Text("description", false));
  HENB_ASSIGN_OR_RETURN(int64_t devices, r.Int("devices", 1, kMaxDevices, 100));
  s.devices = static_cast<int>(devices);
  HENB_ASSIGN_OR_RETURN(int64_t seed, r.Int("seed", 0, INT64_MAX, 1));
  s.seed = static_cast<uint64_t>(seed);
  HENB_ASSIGN_OR_RETURN(s.tick, r.Int("tick", 1, 86'400, 60));
  HENB_ASSIGN_OR_RETURN(s.max_duration,
                        r.Int("max_duration", 1, int64_t{10} * 365 * 86'400, 86'400));
  HENB_ASSIGN_OR_RETURN(s.ticket_period, r.Int("ticket_period", 10, int64_t{365} * 86'400, 3'600));
  HENB_ASSIGN_OR_RETURN(s.segw_max_age, r.Int("segw_max_age", 0, int64_t{365} * 86'400, 0));
  HENB_ASSIGN_OR_RETURN(s.factory_version, r.Text("factory_version", true));

  std::set<std::string> versions;
  if (const toml::array* releases = root["release"].as_array()) {
    for (size_t i = 0; i < releases->size(); ++i) {
      const std::string where = std::string(source) + ": release " + std::to_string(i + 1);
      const toml::table* t = releases->get(i)->as_table();
      if (t == nullptr) return Error(ErrorCode::kInvalidArgument, where + " is not a table");
      const Reader rr(*t, where);
      HENB_TRY(rr.Unknown({"version", "counter"}));
      ScenarioRelease rel;
      HENB_ASSIGN_OR_RETURN(rel.version, rr.Text("version", true));
      HENB_ASSIGN_OR_RETURN(int64_t counter, rr.Int("counter", 1, INT32_MAX, std::nullopt));
      rel.counter = static_cast<uint64_t>(counter);
      if (!versions.insert(rel.version).second) return rr.Fail("version", "is named twice");
      s.releases.push_back(std::move(rel));
    }
  } else if (root.contains("release")) {
    return r.Fail("release", "must be an array of tables ([[release]])");
  }
  if (!versions.contains(s.factory_version)) {
    return r.Fail("factory_version", "'" + s.factory_version + "' is not a [[release]]");
  }
  if (const toml::array* events = root["event"].as_array()) {
    for (size_t i = 0; i < events->size(); ++i) {
      const std::string where = std::string(source) + ": event " + std::to_string(i + 1);
      const toml::table* t = events->get(i)->as_table();
      if (t == nullptr) return Error(ErrorCode::kInvalidArgument, where + " is not a table");
      HENB_ASSIGN_OR_RETURN(ScenarioEvent e, ReadEvent(*t, where));
      for (const std::string* v : {&e.version, &e.safe_version}) {
        if (!v->empty() && !versions.contains(*v)) {
          return Error(ErrorCode::kInvalidArgument,
                       where + ": release '" + *v + "' is not a [[release]]");
        }
      }
      s.events.push_back(std::move(e));
    }
  } else if (root.contains("event")) {
    return r.Fail("event", "must be an array of tables ([[event]])");
  }
  std::stable_sort(s.events.begin(), s.events.end(),
                   [](const ScenarioEvent& a, const ScenarioEvent& b) { return a.at < b.at; });
  if (s.segw_max_age == 0) s.segw_max_age = s.ticket_period;
  return s;
}

}  // namespace

std::string_view ScenarioEventKindName(ScenarioEventKind kind) {
  for (const auto& k : kEventKinds) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

Result<Scenario> ParseScenario(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Error(ErrorCode::kInvalidArgument, std::string(source) + ":" +
                                                  std::to_string(e.source().begin.line) + ": " +
                                                  std::string(e.description()));
  }
  return Read(root, source);
}

Result<Scenario> LoadScenario(const std::string& path) {
  HENB_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseScenario(text, path);
}

}  // namespace henbtrust
