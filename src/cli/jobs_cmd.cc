// henbtrust server update | remediate: opening jobs (step 1). The server
// then carries each device through the flow; `server status` follows them.
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/server/server.h"

namespace henbtrust::cli {

namespace {

struct JobArgs {
  std::string dir;
  std::string store;
  std::string release_id;
  std::string version;
};

// The enrolled devices that do not run `release_id` `version`.
Result<std::vector<std::string>> DevicesNotOn(Store& store, const std::string& release_id,
                                              const std::string& version) {
  std::vector<std::string> out;
  std::string after;
  for (;;) {
    HENB_ASSIGN_OR_RETURN(auto page, store.ListDevices(after, 1000));
    if (page.empty()) break;
    for (const auto& d : page) {
      if (d.release_id != release_id || d.release_version != version) out.push_back(d.device_id);
    }
    after = page.back().device_id;
  }
  return out;
}

int RunUpdate(const JobArgs& a, std::vector<std::string> devices, bool all) {
  auto config = LoadOamConfig(a.dir);
  if (!config.ok()) return Fail(config.error());
  auto store = OpenStore(ServerStoreLocation(a.dir, a.store));
  if (!store.ok()) return Fail(store.error());
  if (all) {
    auto others = DevicesNotOn(**store, a.release_id, a.version);
    if (!others.ok()) return Fail(others.error());
    devices.insert(devices.end(), others->begin(), others->end());
  }
  OamService oam(**store, NoPve(), *config);
  int opened = 0;
  int refused = 0;
  for (const auto& id : devices) {
    auto job = oam.OpenJob(id, a.release_id, a.version, "operator:cli");
    if (job.ok()) {
      ++opened;
    } else {
      ++refused;
      std::cerr << "  " << id << ": " << job.error().ToString() << "\n";
    }
  }
  std::cout << "opened " << opened << " update jobs to " << a.release_id << " " << a.version;
  if (refused > 0) std::cout << "; " << refused << " refused (above)";
  std::cout << "\n";
  return refused > 0 && opened == 0 ? kExitInvalid : kExitOk;
}

// One remediation job. The release id is the device's own unless given.
int RunRemediate(const JobArgs& a, const std::string& device_id, JobKind kind) {
  auto config = LoadOamConfig(a.dir);
  if (!config.ok()) return Fail(config.error());
  auto store = OpenStore(ServerStoreLocation(a.dir, a.store));
  if (!store.ok()) return Fail(store.error());
  std::string release_id = a.release_id;
  if (release_id.empty()) {
    auto device = (*store)->GetDevice(device_id);
    if (!device.ok()) return Fail(device.error());
    if (!*device) {
      return Fail(Error(ErrorCode::kPolicyUnknownDevice,
                        "no enrolled device " + device_id + " (henbtrust server inventory)"));
    }
    release_id = (*device)->release_id;
  }
  OamService oam(**store, NoPve(), *config);
  auto job = oam.OpenJob(device_id, release_id, a.version, "operator:cli", kind);
  if (!job.ok()) return Fail(job.error());
  std::cout << "opened " << JobKindName(kind) << " job " << job->id << " for " << device_id << ": "
            << job->from_version << " -> " << release_id << " " << a.version
            << "; it ends committed only on a verified quote of " << a.version
            << " (henbtrust server status --dir " << a.dir << " --history " << device_id << ")\n";
  return kExitOk;
}

}  // namespace

void RegisterJobCommands(CLI::App& server, int* exit_code) {
  auto u = std::make_shared<JobArgs>();
  auto devices = std::make_shared<std::vector<std::string>>();
  auto all = std::make_shared<bool>(false);
  CLI::App* update = server.add_subcommand(
      "update", "Open update jobs (step 1): the server then carries each device through the flow");
  update->add_option("--dir", u->dir, "server directory")->required();
  update->add_option("--store", u->store, "sqlite:PATH or postgres:CONNINFO");
  update->add_option("--release-id", u->release_id, "target release id")->required();
  update->add_option("--version", u->version, "target version")->required();
  update->add_flag("--all", *all, "every enrolled device not on the target yet");
  update->add_option("devices", *devices, "device ids");
  OnRun(update, exit_code, [u, devices, all] {
    if (devices->empty() && !*all) return UsageError("name devices or give --all");
    return RunUpdate(*u, *devices, *all);
  });

  auto r = std::make_shared<JobArgs>();
  auto device = std::make_shared<std::string>();
  auto reinstall = std::make_shared<std::string>();
  auto recover = std::make_shared<std::string>();
  CLI::App* remediate = server.add_subcommand(
      "remediate",
      "Bring back a device that does not verify: reinstall a known-good release into its "
      "inactive slot, or have its recovery image install one into both slots. No affirming "
      "appraisal is needed first; the job commits only on a verified quote of the release");
  remediate->add_option("--dir", r->dir, "server directory")->required();
  remediate->add_option("--store", r->store, "sqlite:PATH or postgres:CONNINFO");
  remediate->add_option("--device", *device, "the device")->required();
  auto* re = remediate->add_option("--reinstall", *reinstall,
                                   "version to install again (the device's own or a safe one)");
  auto* rc = remediate->add_option("--recover", *recover,
                                   "safe version the recovery image installs into both slots");
  re->excludes(rc);
  remediate->add_option("--release-id", r->release_id,
                        "release id of the version (default: the device's current one)");
  OnRun(remediate, exit_code, [r, device, reinstall, recover] {
    if (reinstall->empty() == recover->empty()) {
      return UsageError("give one of --reinstall VERSION and --recover VERSION");
    }
    JobArgs args = *r;
    args.version = reinstall->empty() ? *recover : *reinstall;
    return RunRemediate(args, *device,
                        reinstall->empty() ? JobKind::kRecover : JobKind::kReinstall);
  });
}

}  // namespace henbtrust::cli
