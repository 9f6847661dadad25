// henbtrust server revoke | unrevoke: a revocation that leads to recovery
// (docs/oam.md, "Revocation").
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/server/server.h"

namespace henbtrust::cli {

namespace {

struct RevokeArgs {
  std::string dir;
  std::string store;
  ReleaseRevocation request;
};

int RunRevoke(const RevokeArgs& a) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  auto out = server->oam->RevokeRelease(a.request, "operator:cli");
  if (!out.ok()) return Fail(out.error());
  std::cout << "revoked " << out->release_id << " " << out->version
            << "; the access decision quarantines every device on it\n";
  if (!out->campaign) {
    std::cout << "no enrolled device runs it: nothing to reinstall\n";
    return kExitOk;
  }
  const CampaignView& c = *out->campaign;
  std::cout << "campaign " << c.campaign.id << ": reinstall " << out->safe_version << " on "
            << out->devices << " devices, at most " << c.campaign.rate
            << " jobs/s (henbtrust server campaign status --dir " << a.dir << " " << c.campaign.id
            << ")\n";
  return kExitOk;
}

int RunUnrevoke(const RevokeArgs& a) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  if (auto st = server->oam->UnrevokeRelease(a.request.release_id, a.request.version,
                                             a.request.reason, "operator:cli");
      !st.ok()) {
    return Fail(st.error());
  }
  std::cout << "revocation of " << a.request.release_id << " " << a.request.version
            << " withdrawn\n";
  return kExitOk;
}

}  // namespace

void RegisterRevocationCommands(CLI::App& server, int* exit_code) {
  auto r = std::make_shared<RevokeArgs>();
  CLI::App* revoke = server.add_subcommand(
      "revoke",
      "Revoke a release: every device on it is quarantined at once and reinstalled to a safe "
      "version by a campaign (no affirming appraisal needed; step 9 re-appraises each)");
  revoke->add_option("--dir", r->dir, "server directory")->required();
  revoke->add_option("--store", r->store, "sqlite:PATH or postgres:CONNINFO");
  revoke->add_option("--release-id", r->request.release_id, "release id")->required();
  revoke->add_option("--version", r->request.version, "the version to revoke")->required();
  revoke
      ->add_option("--safe-version", r->request.safe_version,
                   "the version of the same release to reinstall (its release counter at "
                   "least the revoked one's)")
      ->required();
  revoke->add_option("--reason", r->request.reason, "why, for the audit log and the devices");
  revoke
      ->add_option("--rate", r->request.rate,
                   "reinstall jobs opened per second at most (0: the OAM's default, 50)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  OnRun(revoke, exit_code, [r] { return RunRevoke(*r); });

  auto u = std::make_shared<RevokeArgs>();
  CLI::App* unrevoke = server.add_subcommand(
      "unrevoke", "Withdraw a release's revocation (audited); its campaigns go on");
  unrevoke->add_option("--dir", u->dir, "server directory")->required();
  unrevoke->add_option("--store", u->store, "sqlite:PATH or postgres:CONNINFO");
  unrevoke->add_option("--release-id", u->request.release_id, "release id")->required();
  unrevoke->add_option("--version", u->request.version, "the revoked version")->required();
  unrevoke->add_option("--reason", u->request.reason, "why, for the audit log");
  OnRun(unrevoke, exit_code, [u] { return RunUnrevoke(*u); });
}

}  // namespace henbtrust::cli
