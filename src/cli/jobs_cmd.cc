// henbtrust server update | remediate | campaign: opening jobs (step 1),
// one by one or as campaigns. The server then carries each device through
// the flow; `server status` and `server campaign status` follow them.
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

// The jobs a campaign opened at once, and the members it could not open one
// for (printed, with why).
struct Opened {
  int jobs = 0;
  int refused = 0;
};
Result<Opened> PrintOpened(Store& store, int64_t campaign_id) {
  HENB_ASSIGN_OR_RETURN(auto members, store.CampaignMembers(campaign_id));
  Opened out;
  for (const auto& m : members) {
    if (m.job_id != 0) ++out.jobs;
    if (!m.note.empty()) {
      ++out.refused;
      std::cerr << "  " << m.device_id << ": " << m.note << "\n";
    }
  }
  return out;
}

// A one-batch campaign: every named device (or, with --all, every one not
// on the target yet) gets its update job now.
int RunUpdate(const JobArgs& a, std::vector<std::string> devices, bool all) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  if (all) {
    auto others = DevicesNotOn(*server->store, a.release_id, a.version);
    if (!others.ok()) return Fail(others.error());
    devices.insert(devices.end(), others->begin(), others->end());
    if (devices.empty()) {
      std::cout << "every enrolled device runs " << a.release_id << " " << a.version << "\n";
      return kExitOk;
    }
  }
  CreateCampaignRequest request;
  request.release_id = a.release_id;
  request.version = a.version;
  request.selection.devices = std::move(devices);
  auto campaign = server->oam->CreateCampaign(request, "operator:cli");
  if (!campaign.ok()) return Fail(campaign.error());
  auto opened = PrintOpened(*server->store, campaign->campaign.id);
  if (!opened.ok()) return Fail(opened.error());
  std::cout << "campaign " << campaign->campaign.id << ": opened " << opened->jobs
            << " update jobs to " << a.release_id << " " << a.version;
  if (opened->refused > 0) std::cout << "; " << opened->refused << " refused (above)";
  std::cout << "\n";
  return opened->refused > 0 && opened->jobs == 0 ? kExitInvalid : kExitOk;
}

// One remediation job. The release id is the device's own unless given.
int RunRemediate(const JobArgs& a, const std::string& device_id, JobKind kind) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  std::string release_id = a.release_id;
  if (release_id.empty()) {
    auto device = server->store->GetDevice(device_id);
    if (!device.ok()) return Fail(device.error());
    if (!*device) {
      return Fail(Error(ErrorCode::kPolicyUnknownDevice,
                        "no enrolled device " + device_id + " (henbtrust server inventory)"));
    }
    release_id = (*device)->release_id;
  }
  auto job = server->oam->OpenJob(device_id, release_id, a.version, "operator:cli", kind);
  if (!job.ok()) return Fail(job.error());
  std::cout << "opened " << JobKindName(kind) << " job " << job->id << " for " << device_id << ": "
            << job->from_version << " -> " << release_id << " " << a.version
            << "; it ends committed only on a verified quote of " << a.version
            << " (henbtrust server status --dir " << a.dir << " --history " << device_id << ")\n";
  return kExitOk;
}

void PrintCampaign(const CampaignView& v) {
  const Campaign& c = v.campaign;
  std::cout << "campaign " << c.id << ": " << CampaignStateName(c.state) << ", "
            << JobKindName(c.kind) << " to " << c.release_id << " " << c.version << ", "
            << v.members << " devices (" << c.selection << ")"
            << (c.batch_size > 0 ? ", batches of " + std::to_string(c.batch_size) : "")
            << (c.rate > 0 ? ", at most " + std::to_string(c.rate) + " jobs/s" : "")
            << (c.max_failure_percent < 100
                    ? ", pauses above " + std::to_string(c.max_failure_percent) + "% failures"
                    : ", no failure threshold")
            << "\n"
            << "  committed " << v.counts.committed << ", rolled-back " << v.counts.rolled_back
            << ", failed " << v.counts.failed << ", refused " << v.counts.refused << ", pending "
            << v.counts.pending << "\n"
            << "  " << c.detail << "\n";
}

struct CampaignArgs {
  std::string dir;
  std::string store;
  int64_t id = 0;
  bool json = false;
};

int RunCampaignCreate(const JobArgs& a, CreateCampaignRequest request, const std::string& select,
                      const std::string& kind) {
  auto selection = ParseCampaignSelection(select);
  if (!selection.ok()) return Fail(selection.error());
  auto parsed_kind = ParseJobKind(kind);
  if (!parsed_kind) return UsageError("--kind is update, reinstall or recover, not '" + kind + "'");
  request.release_id = a.release_id;
  request.version = a.version;
  request.kind = *parsed_kind;
  request.selection = *selection;
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  auto campaign = server->oam->CreateCampaign(request, "operator:cli");
  if (!campaign.ok()) return Fail(campaign.error());
  std::cout << "campaign " << campaign->campaign.id << "\n";
  return kExitOk;
}

// status (no action), pause, resume or abort.
int RunCampaign(const CampaignArgs& a, std::optional<OamService::CampaignAction> action) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  OamService& oam = *server->oam;
  auto view = action ? oam.ChangeCampaign(a.id, *action, "operator:cli") : oam.GetCampaign(a.id);
  if (!view.ok()) return Fail(view.error());
  if (a.json) {
    std::cout << EncodeCampaignView(*view) << "\n";
  } else {
    PrintCampaign(*view);
  }
  return kExitOk;
}

void RegisterCampaignCommands(CLI::App& server, int* exit_code) {
  CLI::App* campaign = server.add_subcommand(
      "campaign",
      "Roll a release out to a selection of devices in batches, paced, pausing "
      "itself when too many fail");
  campaign->require_subcommand(1);
  auto a = std::make_shared<JobArgs>();
  auto request = std::make_shared<CreateCampaignRequest>();
  auto select = std::make_shared<std::string>("all");
  auto kind = std::make_shared<std::string>("update");
  CLI::App* create = campaign->add_subcommand("create", "Create a campaign; prints its number");
  create->add_option("--dir", a->dir, "server directory")->required();
  create->add_option("--store", a->store, "sqlite:PATH or postgres:CONNINFO");
  create->add_option("--release-id", a->release_id, "target release id")->required();
  create->add_option("--version", a->version, "target version")->required();
  create
      ->add_option("--select", *select,
                   "which devices: 'model=M release=V devices=a,b,c' (all terms must hold) "
                   "or 'all'")
      ->capture_default_str();
  create->add_option("--kind", *kind, "update, reinstall or recover")->capture_default_str();
  create
      ->add_option("--batch", request->batch_size,
                   "devices per batch; a batch starts once the one before has settled (0: one "
                   "batch)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  create
      ->add_option("--max-failures", request->max_failure_percent,
                   "pause when more than this share of the ended jobs failed, in percent")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  create->add_option("--rate", request->rate, "jobs opened per second at most (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  OnRun(create, exit_code,
        [a, request, select, kind] { return RunCampaignCreate(*a, *request, *select, *kind); });

  const std::pair<const char*, std::optional<OamService::CampaignAction>> verbs[] = {
      {"status", std::nullopt},
      {"pause", OamService::CampaignAction::kPause},
      {"resume", OamService::CampaignAction::kResume},
      {"abort", OamService::CampaignAction::kAbort}};
  const char* what[] = {"Show a campaign: state, counts, last change",
                        "Pause a running campaign: no new job opens; open jobs go on",
                        "Resume a paused campaign", "End a campaign: no new job opens again"};
  for (size_t i = 0; i < std::size(verbs); ++i) {
    auto c = std::make_shared<CampaignArgs>();
    CLI::App* sub = campaign->add_subcommand(verbs[i].first, what[i]);
    sub->add_option("--dir", c->dir, "server directory")->required();
    sub->add_option("--store", c->store, "sqlite:PATH or postgres:CONNINFO");
    sub->add_option("campaign", c->id, "the campaign's number")->required();
    sub->add_flag("--json", c->json,
                  "the campaign as JSON: id, state, counts (committed, rolled-back, failed, "
                  "refused, pending), ...");
    const auto action = verbs[i].second;
    OnRun(sub, exit_code, [c, action] { return RunCampaign(*c, action); });
  }
}

}  // namespace

void RegisterJobCommands(CLI::App& server, int* exit_code) {
  RegisterCampaignCommands(server, exit_code);

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
