#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/eventlog/replay.h"

namespace henbtrust::cli {

namespace {

Result<EventLog> LoadLog(const std::string& path) {
  HENB_ASSIGN_OR_RETURN(Bytes raw, ReadFile(path));
  auto log = EventLog::Parse(raw);
  if (!log.ok()) return log.error().WithContext(path);
  for (const auto& d : log->diagnostics()) {
    std::cerr << "warning: event " << d.event_index << ": " << d.message << "\n";
  }
  return log;
}

int RunReplay(const std::string& path, bool json) {
  auto log = LoadLog(path);
  if (!log.ok()) return Fail(log.error());
  auto values = Replay(*log);
  if (!values.ok()) return Fail(values.error());
  if (json) {
    nlohmann::ordered_json banks = nlohmann::ordered_json::object();
    for (const auto& [alg, pcrs] : *values) {
      nlohmann::ordered_json bank = nlohmann::ordered_json::object();
      for (const auto& [pcr, value] : pcrs) bank[std::to_string(pcr)] = HexEncode(value);
      banks[std::string(HashAlgName(alg))] = std::move(bank);
    }
    nlohmann::ordered_json out;
    out["banks"] = std::move(banks);
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& [alg, pcrs] : *values) {
      std::cout << HashAlgName(alg) << ":\n";
      for (const auto& [pcr, value] : pcrs) {
        std::cout << "  " << (pcr < 10 ? " " : "") << pcr << " : 0x" << HexEncode(value) << "\n";
      }
    }
  }
  return kExitOk;
}

int RunShow(const std::string& path) {
  auto log = LoadLog(path);
  if (!log.ok()) return Fail(log.error());
  std::cout << "# "
            << (log->format() == EventLogFormat::kCryptoAgile ? "crypto-agile" : "legacy SHA-1")
            << " log, " << log->events().size() << " events, banks:";
  for (const auto& a : log->spec_id().algorithms) {
    auto alg = HashAlgFromTpmId(a.alg_id);
    std::cout << " "
              << (alg.ok() ? std::string(HashAlgName(*alg)) : "alg" + std::to_string(a.alg_id));
  }
  std::cout << "\n";
  for (size_t i = 0; i < log->events().size(); ++i)
    std::cout << DescribeEvent(log->events()[i], i) << "\n";
  return kExitOk;
}

}  // namespace

void RegisterEventLogCommands(CLI::App& app, int* exit_code) {
  CLI::App* ev =
      app.add_subcommand("eventlog", "TCG PC Client event logs (crypto-agile and legacy SHA-1)");
  ev->require_subcommand(1);

  auto replay_path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* replay =
      ev->add_subcommand("replay", "Replay a log and print the final PCR values per bank");
  replay->add_option("FILE", *replay_path, "binary event log")->required();
  replay->add_flag("--json", *json, R"(print {"banks": {"sha256": {"0": "<hex>", ...}, ...}})");
  OnRun(replay, exit_code, [replay_path, json] { return RunReplay(*replay_path, *json); });

  auto show_path = std::make_shared<std::string>();
  CLI::App* show = ev->add_subcommand("show", "Print one line per event");
  show->add_option("FILE", *show_path, "binary event log")->required();
  OnRun(show, exit_code, [show_path] { return RunShow(*show_path); });
}

}  // namespace henbtrust::cli
