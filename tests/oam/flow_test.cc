// The nine steps end to end over HTTPS: the OAM and the PVE behind one
// server (as `henbtrust server` runs them), soft-TrE devices with A/B slots
// driven by the update agent, on SQLite and on PostgreSQL. Each device shows
// one outcome: a clean update; a bundle altered in transit, refused before
// install and then fetched again; an image altered after install, caught at
// step 7 and fallen back from; and a device that lies about it, caught at step 9.
#include "oam/flow_fixture.h"

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "henbtrust/core/file.h"
#include "support/bad_json.h"

namespace henbtrust {
namespace {

using testing::PveHarness;

TEST_P(UpdateFlowTest, EveryDeviceEndsCommittedOrRolledBackForTheRightReason) {
  std::vector<FleetDevice> fleet;
  for (const char* id : {"clean", "tampered", "implant", "liar"}) fleet.push_back(AddDevice(id));
  fleet[1].faults->corrupt_next_download = true;
  fleet[2].faults->implant_after_install = true;
  fleet[3].faults->implant_after_install = true;
  fleet[3].faults->lie_in_next_report = true;

  std::map<std::string, int64_t> jobs;
  for (auto& d : fleet) {
    Json job =
        Post("/v1/jobs", {{"device_id", d.id}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
    EXPECT_EQ(job["state"], "opened");
    jobs[d.id] = job["id"].get<int64_t>();
  }
  // One open job per device.
  Post("/v1/jobs", {{"device_id", "clean"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 409);

  RunToEnd(fleet);

  auto job = [&](const std::string& id) { return Get("/v1/jobs/" + std::to_string(jobs[id])); };
  auto runs = [&](FleetDevice& d) {
    return d.device->SlotManifest(d.device->boot_control().active)->version;
  };
  auto recorded = [&](const std::string& id) {
    return (*h_->store->GetDevice(id))->release_version;
  };

  EXPECT_EQ(job("clean")["state"], "committed") << job("clean").dump();
  EXPECT_EQ(runs(fleet[0]), "2.0");
  EXPECT_EQ(recorded("clean"), "2.0");
  EXPECT_EQ(fleet[0].device->tre().ReadCounter().value(), 2u);  // anti-rollback floor raised

  EXPECT_EQ(job("tampered")["state"], "committed") << job("tampered").dump();
  EXPECT_EQ(runs(fleet[1]), "2.0");

  EXPECT_EQ(job("implant")["state"], "rolled-back") << job("implant").dump();
  EXPECT_NE(job("implant")["detail"].get<std::string>().find("fell back"), std::string::npos);
  EXPECT_EQ(runs(fleet[2]), "1.0");
  EXPECT_EQ(recorded("implant"), "1.0");
  EXPECT_FALSE(fleet[2].device->boot_control().last_fallback_reason.empty());

  EXPECT_EQ(job("liar")["state"], "rolled-back") << job("liar").dump();
  EXPECT_EQ(runs(fleet[3]), "1.0");
  EXPECT_EQ(recorded("liar"), "1.0");

  // The audit: a valid chain, each transition once, and the reasons kept.
  auto count = VerifyAuditChain(*h_->store);
  ASSERT_TRUE(count.ok()) << count.error().ToString();
  std::map<std::string, std::map<std::string, int>> events;  // job -> event -> times
  for (const auto& e : *h_->store->ListAudit(0, 10000)) ++events[e.subject][e.event];
  auto ev = [&](const std::string& id) { return events["job:" + std::to_string(jobs[id])]; };
  for (const auto& id : {"clean", "tampered"}) {
    EXPECT_EQ(ev(id)["opened"], 1);
    EXPECT_EQ(ev(id)["ordered"], 1);
    EXPECT_EQ(ev(id)["reported installed"], 1);
    EXPECT_EQ(ev(id)["verified"], 1);
    EXPECT_EQ(ev(id)["committed"], 1);
  }
  EXPECT_EQ(ev("tampered")["rejected"], 1);
  EXPECT_EQ(ev("implant")["reported fell-back"], 1);
  EXPECT_EQ(ev("implant")["rolled back"], 1);
  EXPECT_EQ(ev("implant")["step 9 failed"], 0);
  EXPECT_EQ(ev("liar")["reported installed"], 1);
  EXPECT_EQ(ev("liar")["step 9 failed"], 1);
  EXPECT_EQ(ev("liar")["reported rolled-back"], 1);
  EXPECT_EQ(ev("liar")["rolled back"], 1);
  EXPECT_EQ(events["release:henb-fw/2.0"]["release imported"], 1);

  // A repeated report changes nothing.
  const int64_t entries = *count;
  auto again = fleet[0].client->Request(
      "POST", "/v1/agent/reports", "application/json",
      Json({{"job", jobs["clean"]}, {"kind", "committed"}, {"detail", "again"}}).dump());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(*VerifyAuditChain(*h_->store), entries);

  // The operator sees the same through the API.
  EXPECT_EQ(Get("/v1/audit?limit=1000")["entries"].size(), static_cast<size_t>(entries));
  Json inventory = Get("/v1/inventory")["devices"];
  ASSERT_EQ(inventory.size(), 4u);
  for (const auto& d : inventory) {
    EXPECT_TRUE(d["open_job"].is_null());
    EXPECT_EQ(d["version"],
              d["device_id"] == "clean" || d["device_id"] == "tampered" ? "2.0" : "1.0");
  }
}

TEST_P(UpdateFlowTest, ADeviceFailingItsAppraisalGetsNoOrder) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("tampered-boot"));
  // The running kernel differs from its RIM: steps 2-4 contraindicate.
  FleetDevice& d = fleet[0];
  const auto manifest = *d.device->SlotManifest("a");
  std::ofstream(d.device->SlotDir("a") + "/" + manifest.components.back().id + ".img",
                std::ios::app)
      << "implant";
  ASSERT_TRUE(d.device->Boot().ok());
  Json job =
      Post("/v1/jobs", {{"device_id", d.id}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  RunToEnd(fleet);
  Json end = Get("/v1/jobs/" + std::to_string(job["id"].get<int64_t>()));
  EXPECT_EQ(end["state"], "refused") << end.dump();
  EXPECT_EQ(d.device->SlotManifest(d.device->boot_control().active)->version, "1.0");
  EXPECT_EQ(d.device->journal().phase, UpdatePhase::kNone);  // nothing was installed
  // The refusal says why, as claims, and what brings the device back.
  const std::string detail = end["detail"].get<std::string>();
  EXPECT_NE(detail.find("executables 33 (unrecognised executables)"), std::string::npos) << detail;
  EXPECT_NE(
      detail.find("henbtrust server remediate --dir DIR --device tampered-boot --reinstall 2.0"),
      std::string::npos)
      << detail;
}

// Remediation: a device whose running image was altered does not verify, so
// no update is ordered; a reinstall of its own release into the other slot,
// and a recovery that writes both slots, are ordered without an affirming
// appraisal and end committed only on step 9. Afterwards the device verifies.
TEST_P(UpdateFlowTest, ReinstallAndRecoverBringBackADeviceThatDoesNotVerify) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("reinstalled"));
  fleet.push_back(AddDevice("recovered"));
  fleet.push_back(AddDevice("still-bad"));
  // Its reinstalled image is altered too, and it claims the install worked:
  // only step 9 can tell, and the job must not commit.
  fleet[2].faults->implant_after_install = true;
  fleet[2].faults->lie_in_next_report = true;
  for (auto& d : fleet) {
    const auto manifest = *d.device->SlotManifest("a");
    std::ofstream(d.device->SlotDir("a") + "/" + manifest.components.back().id + ".img",
                  std::ios::app)
        << "implant";
    ASSERT_TRUE(d.device->Boot().ok());
    ASSERT_EQ(Body(*AttestOnce(*d.client, d.device->tre()))["status"], "contraindicated");
  }
  // A reinstall of the release it should run (1.0), REST; a recover to 2.0, in process.
  Json reinstall = Post("/v1/jobs",
                        {{"device_id", "reinstalled"},
                         {"release_id", "henb-fw"},
                         {"version", "1.0"},
                         {"kind", "reinstall"}},
                        201);
  EXPECT_EQ(reinstall["kind"], "reinstall");
  auto recover = oam_->OpenJob("recovered", "henb-fw", "2.0", "operator:test", JobKind::kRecover);
  ASSERT_TRUE(recover.ok()) << recover.error().ToString();
  auto still_bad =
      oam_->OpenJob("still-bad", "henb-fw", "1.0", "operator:test", JobKind::kReinstall);
  ASSERT_TRUE(still_bad.ok()) << still_bad.error().ToString();
  // An update to the release it runs is refused, and says what to do instead.
  Post("/v1/jobs", {{"device_id", "recovered"}, {"release_id", "henb-fw"}, {"version", "1.0"}},
       409);
  RunToEnd(fleet);

  auto job = [&](int64_t id) { return Get("/v1/jobs/" + std::to_string(id)); };
  Json r1 = job(reinstall["id"].get<int64_t>());
  Json r2 = job(recover->id);
  EXPECT_EQ(r1["state"], "committed") << r1.dump();
  EXPECT_EQ(r2["state"], "committed") << r2.dump();
  EXPECT_EQ(r2["kind"], "recover");
  // The reinstall wrote the other slot, the recovery both.
  Device& a = *fleet[0].device;
  EXPECT_EQ(a.boot_control().active, "b");
  EXPECT_EQ(a.SlotManifest("b")->version, "1.0");
  Device& b = *fleet[1].device;
  EXPECT_EQ(b.SlotManifest("a")->version, "2.0");
  EXPECT_EQ(b.SlotManifest("b")->version, "2.0");
  EXPECT_EQ(*b.tre().ReadCounter(), 2u);  // the floor follows the recovered release
  // Step 9 caught the device that still does not verify: no commit.
  Json r3 = job(still_bad->id);
  EXPECT_NE(r3["state"], "committed") << r3.dump();
  EXPECT_FALSE(r3["open"].get<bool>());
  // The other two verify again, and the audit log says how they were ordered.
  for (size_t i = 0; i < 2; ++i) {
    FleetDevice& d = fleet[i];
    EXPECT_EQ(Body(*AttestOnce(*d.client, d.device->tre()))["status"], "affirming") << d.id;
  }
  int remediation_orders = 0;
  const Json audit = Get("/v1/audit?limit=1000");
  for (const auto& e : audit["entries"]) {
    if (e["event"] == "ordered for remediation") ++remediation_orders;
    if (e["event"] == "opened" && e["subject"] == "job:" + std::to_string(recover->id)) {
      EXPECT_EQ(e["detail"], "recovered: recover 1.0 -> 2.0");
    }
  }
  EXPECT_EQ(remediation_orders, 3);
  int step9_failed = 0;
  for (const auto& e : audit["entries"]) {
    if (e["subject"] == "job:" + std::to_string(still_bad->id) && e["event"] == "step 9 failed") {
      ++step9_failed;
    }
  }
  EXPECT_EQ(step9_failed, 1);
}

// A campaign opens its batches in order, each once the one before has
// settled, counts how its jobs end, and pauses itself when the share of
// failures among its ended jobs passes its threshold; a resume counts
// afresh, an abort ends it. Every change is audited.
TEST_P(UpdateFlowTest, ACampaignGoesInBatchesAndPausesItselfPastItsThreshold) {
  std::vector<FleetDevice> fleet;
  for (const char* id : {"camp-a", "camp-b", "camp-c", "camp-d", "camp-e"}) {
    fleet.push_back(AddDevice(id));
  }
  fleet[2].faults->implant_after_install = true;  // fall back at step 7
  fleet[3].faults->implant_after_install = true;
  Json created = Post("/v1/campaigns",
                      {{"release_id", "henb-fw"},
                       {"version", "2.0"},
                       {"select", {{"hardware_model", "femto-a1"}, {"running_version", "1.0"}}},
                       {"batch_size", 2},
                       {"max_failure_percent", 25}},
                      201);
  const std::string campaign_id = std::to_string(created["id"].get<int64_t>());
  const std::string path = "/v1/campaigns/" + campaign_id;
  EXPECT_EQ(created["state"], "running");
  EXPECT_EQ(created["members"], 5);
  EXPECT_EQ(created["selection"], "model=femto-a1 release=1.0");
  // The first batch opened at once, and only it.
  EXPECT_EQ(created["counts"]["pending"], 5);
  for (const auto& d : fleet) {
    const bool first = d.id == "camp-a" || d.id == "camp-b";
    EXPECT_EQ(h_->store->OpenJobFor(d.id)->has_value(), first) << d.id;
  }
  RunToEnd(fleet);
  Json paused = Get(path);
  EXPECT_EQ(paused["state"], "paused") << paused.dump();
  EXPECT_EQ(paused["counts"]["committed"], 2);
  EXPECT_EQ(paused["counts"]["rolled-back"], 2);
  EXPECT_EQ(paused["counts"]["pending"], 1);  // the third batch never opened
  EXPECT_NE(paused["detail"].get<std::string>().find("2 of 4 ended jobs failed"), std::string::npos)
      << paused.dump();
  EXPECT_FALSE(h_->store->OpenJobFor("camp-e")->has_value());

  // Resumed, the threshold counts what ends from now on: the last batch runs.
  Json resumed = Post(path + "/resume", Json::object(), 200);
  EXPECT_EQ(resumed["state"], "running");
  EXPECT_TRUE(h_->store->OpenJobFor("camp-e")->has_value());
  RunToEnd(fleet);
  ASSERT_TRUE(oam_->Drive().ok());
  Json done = Get(path);
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["counts"]["committed"], 3);
  EXPECT_EQ(done["counts"]["pending"], 0);
  // A campaign that has ended takes no more changes.
  Post(path + "/pause", Json::object(), 409);
  Post(path + "/abort", Json::object(), 409);

  std::map<std::string, int> events;
  const Json audit = Get("/v1/audit?limit=1000");
  for (const auto& e : audit["entries"]) {
    if (e["subject"] == "campaign:" + campaign_id) ++events[e["event"]];
    if (e["actor"] == "campaign:" + campaign_id) ++events["opened by the campaign"];
  }
  EXPECT_EQ(events["campaign created"], 1);
  EXPECT_EQ(events["paused"], 1);
  EXPECT_EQ(events["resumed"], 1);
  EXPECT_EQ(events["done"], 1);
  EXPECT_EQ(events["opened by the campaign"], 5);

  // A selection that takes nothing, a revoked or unknown target, a bad threshold: refused.
  Post(
      "/v1/campaigns",
      {{"release_id", "henb-fw"}, {"version", "2.0"}, {"select", {{"hardware_model", "femto-z9"}}}},
      400);
  Post("/v1/campaigns", {{"release_id", "henb-fw"}, {"version", "9.9"}}, 404);
  Post("/v1/campaigns",
       {{"release_id", "henb-fw"}, {"version", "2.0"}, {"max_failure_percent", 101}}, 400);
  Post("/v1/campaigns",
       {{"release_id", "henb-fw"}, {"version", "2.0"}, {"select", {{"devices", {"ghost"}}}}}, 404);
  Json listed = Get("/v1/campaigns");
  EXPECT_EQ(listed["campaigns"].size(), 1u);
}

// An operator pauses and aborts a campaign; paced, it opens at most `rate`
// jobs a second.
TEST_P(UpdateFlowTest, ACampaignIsPacedPausedAndAborted) {
  std::vector<FleetDevice> fleet;
  for (const char* id : {"paced-a", "paced-b", "paced-c"}) fleet.push_back(AddDevice(id));
  CreateCampaignRequest request;
  request.release_id = "henb-fw";
  request.version = "2.0";
  request.rate = 1;
  auto created = oam_->CreateCampaign(request, "operator:test");
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  const int64_t id = created->campaign.id;
  auto open_jobs = [&] {
    int n = 0;
    for (const auto& d : fleet) n += h_->store->OpenJobFor(d.id)->has_value() ? 1 : 0;
    return n;
  };
  EXPECT_EQ(open_jobs(), 1);
  ASSERT_TRUE(oam_->Drive().ok());
  EXPECT_EQ(open_jobs(), 1);  // the same second: no second job
  h_->now += 1;
  ASSERT_TRUE(oam_->Drive().ok());
  EXPECT_EQ(open_jobs(), 2);
  auto paused = oam_->ChangeCampaign(id, OamService::CampaignAction::kPause, "operator:test");
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ(paused->campaign.state, CampaignState::kPaused);
  h_->now += 5;
  ASSERT_TRUE(oam_->Drive().ok());
  EXPECT_EQ(open_jobs(), 2);  // paused: nothing new
  auto aborted = oam_->ChangeCampaign(id, OamService::CampaignAction::kAbort, "operator:test");
  ASSERT_TRUE(aborted.ok());
  EXPECT_EQ(aborted->campaign.state, CampaignState::kAborted);
  EXPECT_EQ(
      oam_->ChangeCampaign(id, OamService::CampaignAction::kResume, "operator:test").error().code(),
      ErrorCode::kPolicyState);
  RunToEnd(fleet);  // the open jobs run to their end
  auto end = oam_->GetCampaign(id);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->campaign.state, CampaignState::kAborted);
  EXPECT_EQ(end->counts.committed, 2);
  EXPECT_EQ(end->counts.pending, 1);
}

// The operator's lists come in pages, each with the cursor of the next;
// group labels are set (audited) and listed, and a campaign selects a group.
TEST_P(UpdateFlowTest, ListsComeInPagesAndACampaignSelectsAGroup) {
  std::vector<FleetDevice> fleet;
  for (const char* id : {"page-a", "page-b", "page-c", "page-d", "page-e"}) {
    fleet.push_back(AddDevice(id));
  }
  auto request = [&](const std::string& method, const std::string& target) {
    auto r = operator_->Request(method, target);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->status : 0;
  };
  EXPECT_EQ(request("PUT", "/v1/groups/north/devices/page-b"), 204);
  EXPECT_EQ(request("PUT", "/v1/groups/north/devices/page-d"), 204);
  EXPECT_EQ(request("PUT", "/v1/groups/north/devices/page-e"), 204);
  EXPECT_EQ(request("PUT", "/v1/groups/north/devices/page-e"), 204);  // twice: once
  EXPECT_EQ(request("DELETE", "/v1/groups/north/devices/page-e"), 204);
  EXPECT_EQ(request("PUT", "/v1/groups/north/devices/nobody"), 404);
  EXPECT_EQ(request("PUT", "/v1/groups/no%2Fslash/devices/page-a"), 400);
  EXPECT_EQ(request("PUT", "/v1/groups/../devices/page-a"), 400);
  Json north = Get("/v1/groups/north?limit=1");
  EXPECT_EQ(north["devices"], Json::array({"page-b"}));
  EXPECT_EQ(north["next"], "page-b");
  north = Get("/v1/groups/north?after=page-b");
  EXPECT_EQ(north["devices"], Json::array({"page-d"}));
  EXPECT_TRUE(north["next"].is_null());

  Json created =
      Post("/v1/campaigns",
           {{"release_id", "henb-fw"}, {"version", "2.0"}, {"select", {{"group", "north"}}}}, 201);
  EXPECT_EQ(created["members"], 2);
  EXPECT_EQ(created["selection"], "group=north");
  RunToEnd(fleet);
  EXPECT_EQ(Get("/v1/campaigns/" + std::to_string(created["id"].get<int64_t>()))["state"], "done");
  for (const auto& d : fleet) {
    const bool in_group = d.id == "page-b" || d.id == "page-d";
    EXPECT_EQ((**h_->store->GetDevice(d.id)).release_version, in_group ? "2.0" : "1.0") << d.id;
  }
  Post("/v1/campaigns",
       {{"release_id", "henb-fw"}, {"version", "2.0"}, {"select", {{"group", "south"}}}}, 400);
  Json outside = Post("/v1/campaigns",
                      {{"release_id", "henb-fw"},
                       {"version", "2.0"},
                       {"select", {{"group", "north"}, {"devices", {"page-a"}}}}},
                      400);
  EXPECT_NE(outside.dump().find("not an enrolled member of group north"), std::string::npos)
      << outside.dump();

  // Jobs (two, of the campaign) one at a time.
  Json jobs = Get("/v1/jobs?limit=1");
  ASSERT_EQ(jobs["jobs"].size(), 1u);
  ASSERT_TRUE(jobs["next"].is_string());
  Json rest = Get("/v1/jobs?limit=1&after=" + jobs["next"].get<std::string>());
  ASSERT_EQ(rest["jobs"].size(), 1u);
  EXPECT_GT(rest["jobs"][0]["id"], jobs["jobs"][0]["id"]);
  EXPECT_TRUE(Get("/v1/jobs?limit=1&after=" + rest["next"].get<std::string>())["jobs"].empty());
  // Devices, by id, in pages of two.
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    Json inventory = Get("/v1/inventory?limit=2" + (after.empty() ? "" : "&after=" + after));
    for (const auto& d : inventory["devices"]) seen.push_back(d["device_id"]);
    EXPECT_LE(inventory["devices"].size(), 2u);
    if (inventory["next"].is_null()) break;
    after = inventory["next"];
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"page-a", "page-b", "page-c", "page-d", "page-e"}));
  // The audit log from a sequence number on; the group changes are in it.
  Json audit = Get("/v1/audit?limit=3");
  ASSERT_EQ(audit["entries"].size(), 3u);
  Json more = Get("/v1/audit?limit=1000&after=" + audit["next"].get<std::string>());
  EXPECT_EQ(more["entries"][0]["seq"], audit["entries"][2]["seq"].get<int64_t>() + 1);
  int group_entries = 0;
  const Json whole = Get("/v1/audit?limit=1000");  // kept: the loop reads into it
  for (const auto& e : whole["entries"]) {
    if (e["subject"] == "group:north") ++group_entries;
  }
  EXPECT_EQ(group_entries, 4) << "three added, one removed; the repeat changed nothing";
  // Campaigns, and the PVE's appraisals of one device and of all.
  EXPECT_EQ(Get("/v1/campaigns?limit=1")["campaigns"].size(), 1u);
  Json appraisals = Get("/v1/appraisals?device=page-b&limit=1");
  ASSERT_EQ(appraisals["appraisals"].size(), 1u);
  EXPECT_EQ(appraisals["appraisals"][0]["device_id"], "page-b");
  EXPECT_EQ(appraisals["appraisals"][0]["status"], "affirming");
  EXPECT_TRUE(appraisals["appraisals"][0]["trustworthiness_vector"].is_object());
  Json all = Get("/v1/appraisals?limit=1000");
  std::set<std::string> appraised;
  for (const auto& a : all["appraisals"]) appraised.insert(a["device_id"].get<std::string>());
  EXPECT_TRUE(appraised.contains("page-b") && appraised.contains("page-d"));
  // Bad paging is refused, not read as something else.
  for (const char* bad :
       {"/v1/jobs?limit=0", "/v1/jobs?limit=1001", "/v1/jobs?after=x", "/v1/audit?after=-1",
        "/v1/inventory?after=a/b", "/v1/appraisals?device=a/b", "/v1/campaigns?limit=ten"}) {
    EXPECT_EQ(request("GET", bad), 400) << bad;
  }
}

// Revocation leads to recovery: the devices on the revoked release are
// quarantined at once, and a reinstall campaign (no affirming appraisal
// needed) brings them to the safe release, verified at step 9. A safe
// version below the revoked one is refused; importing keeps a revocation;
// withdrawing one is audited.
TEST_P(UpdateFlowTest, ARevocationQuarantinesItsDevicesAndReinstallsThemToTheSafeRelease) {
  std::vector<FleetDevice> fleet;
  for (const char* id : {"rev-a", "rev-b", "rev-c"}) fleet.push_back(AddDevice(id));
  for (const char* id : {"rev-a", "rev-b"}) {
    ASSERT_TRUE(oam_->OpenJob(id, "henb-fw", "2.0", "operator:test").ok());
  }
  RunToEnd(fleet);
  const std::string v21 =
      h_->fixture.Bundle("v21.bundle", h_->fixture.DefaultImages("v21"), 2, {0, 1}, "2.1");
  ASSERT_TRUE(oam_->ImportRelease(v21, h_->fixture.root, "operator:test").ok());
  auto segw = h_->Client(h_->RoleTls("segw"));
  auto decision = [&](const std::string& id) {
    auto r = segw->Request("GET", "/v1/devices/" + id + "/access-decision");
    EXPECT_TRUE(r.ok());
    return Json::parse(r->body, nullptr, false);
  };
  for (auto& d : fleet)
    ASSERT_EQ(Body(*AttestOnce(*d.client, d.device->tre()))["status"], "affirming");
  EXPECT_EQ(decision("rev-a")["decision"], "admit");

  // A safe version below the revoked one would be refused by the devices.
  Post("/v1/revocations", {{"release_id", "henb-fw"}, {"version", "2.0"}, {"safe_version", "1.0"}},
       409);
  Json revoked = Post("/v1/revocations",
                      {{"release_id", "henb-fw"},
                       {"version", "2.0"},
                       {"safe_version", "2.1"},
                       {"reason", "CVE-2026-1234 in the femto stack"}},
                      200);
  EXPECT_EQ(revoked["devices"], 2);
  ASSERT_TRUE(revoked["campaign"].is_object()) << revoked.dump();
  EXPECT_EQ(revoked["campaign"]["kind"], "reinstall");
  EXPECT_EQ(revoked["campaign"]["selection"], "release=henb-fw:2.0");
  // Quarantined at once; the device on 1.0 is not.
  Json q = decision("rev-a");
  EXPECT_EQ(q["decision"], "quarantine");
  EXPECT_NE(q["reason"].get<std::string>().find("release 2.0 is revoked (CVE-2026-1234"),
            std::string::npos)
      << q.dump();
  EXPECT_EQ(decision("rev-c")["decision"], "admit");
  // Importing the release again keeps its revocation.
  ASSERT_TRUE(oam_->ImportRelease(v2_, h_->fixture.root, "operator:test").ok());
  EXPECT_FALSE((*h_->store->GetManifest("henb-fw", "2.0"))->revoked_reason.empty());

  RunToEnd(fleet);
  ASSERT_TRUE(oam_->Drive().ok());
  const std::string path =
      "/v1/campaigns/" + std::to_string(revoked["campaign"]["id"].get<int64_t>());
  Json done = Get(path);
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["counts"]["committed"], 2);
  for (const char* id : {"rev-a", "rev-b"}) {
    EXPECT_EQ((*h_->store->GetDevice(id))->release_version, "2.1") << id;
    EXPECT_EQ(decision(id)["decision"], "admit") << id;  // step 9's appraisal is fresh
  }

  Post("/v1/revocations/henb-fw/2.0/withdrawal", Json::object(), 200);
  EXPECT_TRUE((*h_->store->GetManifest("henb-fw", "2.0"))->revoked_reason.empty());
  Post("/v1/revocations/henb-fw/7.7/withdrawal", Json::object(), 404);
  Post("/v1/revocations/henb-fw/2.0/withdrawal", Json::object(), 409);  // not revoked now
  std::map<std::string, int> events;
  const Json audit = Get("/v1/audit?limit=1000");
  for (const auto& e : audit["entries"]) {
    if (e["subject"] == "release:henb-fw/2.0") ++events[e["event"]];
  }
  EXPECT_EQ(events["release revoked"], 1);
  EXPECT_EQ(events["revocation withdrawn"], 1);
}

// The agent loop survives any answer of the OAM to its poll: wrong types,
// missing or null members, huge values, not JSON. Each round ends with an
// error or with nothing done; then, the answers good again, the update runs.
TEST_P(UpdateFlowTest, TheAgentSurvivesEveryBadPollAnswerAndCarriesOn) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("steadfast"));
  Json job = Post("/v1/jobs",
                  {{"device_id", "steadfast"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  const int64_t id = job["id"].get<int64_t>();
  ASSERT_TRUE(fleet[0].agent->PollOnce().ok());  // attest
  ASSERT_TRUE(oam_->Drive().ok());
  const UpdateJob ordered = **h_->store->GetJob(id);
  ASSERT_EQ(ordered.state, JobState::kOrdered);
  // A well-formed answer for a job the OAM does not know, so that a variant
  // the agent acts on (it reports a refused order) touches no real job.
  const std::string good = EncodePollAnswer({AgentAction::kInstall, id + 1000, ordered.order});
  int errors = 0, variants = 0;
  for (const auto& bad : testing::BadVariants(good)) {
    SCOPED_TRACE(bad.what);
    ++variants;
    Intercept([&bad](const HttpRequest& r) -> std::optional<HttpResponse> {
      if (r.target != "/v1/agent/poll") return std::nullopt;
      return HttpResponse{200, "application/json", bad.text, {}};
    });
    Result<PollOutcome> r = PollOutcome{};
    EXPECT_NO_THROW(r = fleet[0].agent->PollOnce());
    if (!r.ok()) ++errors;
  }
  Intercept(nullptr);
  EXPECT_GT(errors, variants / 2);
  EXPECT_EQ((**h_->store->GetJob(id)).state, JobState::kOrdered);   // nothing reached the job
  EXPECT_EQ(fleet[0].device->journal().phase, UpdatePhase::kNone);  // nothing installed
  RunToEnd(fleet);
  EXPECT_EQ((**h_->store->GetJob(id)).state, JobState::kCommitted);
}

TEST_P(UpdateFlowTest, RefusesBadRequestsAndForeignReports) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("alpha"));
  fleet.push_back(AddDevice("beta"));
  Json job = Post("/v1/jobs",
                  {{"device_id", "alpha"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  Post("/v1/jobs", {{"device_id", "nobody"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 404);
  Post("/v1/jobs", {{"device_id", "beta"}, {"release_id", "henb-fw"}, {"version", "9.9"}}, 404);
  Post("/v1/jobs", {{"device_id", "beta"}, {"release_id", "henb-fw"}, {"version", "1.0"}}, 409);
  Post("/v1/jobs", {{"device_id", "beta"}}, 400);
  // A device may not report on another device's job, nor open jobs.
  auto foreign = fleet[1].client->Request("POST", "/v1/agent/reports", "application/json",
                                          Json({{"job", job["id"]}, {"kind", "committed"}}).dump());
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(foreign->status, 404);
  auto as_device = fleet[1].client->Request("POST", "/v1/jobs", "application/json", "{}");
  EXPECT_EQ(as_device->status, 403);
  // A report that does not fit the job's state.
  auto early = fleet[0].client->Request("POST", "/v1/agent/reports", "application/json",
                                        Json({{"job", job["id"]}, {"kind", "committed"}}).dump());
  EXPECT_EQ(early->status, 409) << early->body;
  // Malformed evidence in a completion report: step 9 fails at once (no
  // endless retry), and the device is told to roll back.
  ASSERT_TRUE(fleet[0].agent->PollOnce().ok());  // attest
  ASSERT_TRUE(oam_->Drive().ok());
  ASSERT_EQ((**h_->store->GetJob(job["id"].get<int64_t>())).state, JobState::kOrdered);
  auto junk = fleet[0].client->Request(
      "POST", "/v1/agent/reports", "application/json",
      Json({{"job", job["id"]}, {"kind", "installed"}, {"evidence", {{"attest", "!!"}}}}).dump());
  ASSERT_TRUE(junk.ok());
  EXPECT_EQ(junk->status, 200) << junk->body;
  EXPECT_EQ((**h_->store->GetJob(job["id"].get<int64_t>())).state, JobState::kRollingBack);
  // Ranges: a resumed download gets the rest; a range past the end is refused.
  auto part = fleet[0].client->Request("GET", "/v1/releases/henb-fw/2.0/bundle", "", "",
                                       {{"Range", "bytes=10-19"}});
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, testing::ReadText(v2_).substr(10, 10));
  auto past = fleet[0].client->Request("GET", "/v1/releases/henb-fw/2.0/bundle", "", "",
                                       {{"Range", "bytes=99999999-"}});
  EXPECT_EQ(past->status, 400);
  auto escape = fleet[0].client->Request("GET", "/v1/releases/..%2f/2.0/bundle");
  EXPECT_NE(escape->status, 200);
}

// docs/security.md, findings 1 and 9: a device holding an order could end
// the server with a report nesting 100,000 arrays (and, the job staying
// `ordered`, again after every restart); a device's earlier certificate
// stayed good for the OAM after it enrolled again.
TEST_P(UpdateFlowTest, ADeepReportAndASupersededCertificateAreRefused) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("alpha"));
  Json job = Post("/v1/jobs",
                  {{"device_id", "alpha"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  ASSERT_TRUE(fleet[0].agent->PollOnce().ok());  // attest
  ASSERT_TRUE(oam_->Drive().ok());
  const int64_t id = job["id"].get<int64_t>();
  ASSERT_EQ((**h_->store->GetJob(id)).state, JobState::kOrdered);
  const std::string deep =
      "{\"job\":" + std::to_string(id) +
      ",\"kind\":\"installed\",\"evidence\":{\"x\":" + std::string(100'000, '[') +
      std::string(100'000, ']') + "}}";
  for (int i = 0; i < 2; ++i) {
    auto r = fleet[0].client->Request("POST", "/v1/agent/reports", "application/json", deep);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->status, 400) << r->body.substr(0, 200);
  }
  EXPECT_EQ((**h_->store->GetJob(id)).state, JobState::kOrdered);

  // The same TPM enrolls again: the OAM refuses the old certificate.
  EnrollmentRequest req{
      "alpha", "femto-a1", "henb-fw", "1.0", h_->EkCertificate(fleet[0].device->tre()), ""};
  auto creds = Enroll("127.0.0.1", server_->port(), h_->CaPem(), fleet[0].device->tre(), req);
  ASSERT_TRUE(creds.ok()) << creds.error().ToString();
  auto old = fleet[0].client->Request("POST", "/v1/agent/poll", "application/json", "{}");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->status, 401) << old->body;
  auto fresh = h_->Client(DeviceTls(*creds));
  auto polled = fresh->Request("POST", "/v1/agent/poll", "application/json", "{}");
  ASSERT_TRUE(polled.ok());
  EXPECT_EQ(polled->status, 200) << polled->body;
}

// The PVE becomes unreachable after a device reported: step 9 waits, the
// outage is recorded once for the job however many retries it lasts, and
// step 9 completes when the PVE is back.
TEST_P(UpdateFlowTest, APveOutageAtStepNineIsRecordedOnceAndTheJobResumes) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("patient"));
  Json opened = Post(
      "/v1/jobs", {{"device_id", "patient"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  const int64_t id = opened["id"].get<int64_t>();
  auto get = [&] { return **h_->store->GetJob(id); };
  auto outages = [&] {
    int n = 0;
    for (const auto& e : *h_->store->ListAudit(0, 10'000))
      n += e.subject == "job:" + std::to_string(id) && e.event == "PVE unavailable";
    return n;
  };
  ASSERT_TRUE(fleet[0].agent->PollOnce().ok());  // attest
  ASSERT_TRUE(oam_->Drive().ok());
  ASSERT_EQ(get().state, JobState::kOrdered);
  pve_down_ = true;
  for (int i = 0; i < 4 && get().state == JobState::kOrdered; ++i) {
    ASSERT_TRUE(fleet[0].agent->PollOnce().ok());  // install, trial boot, report
  }
  ASSERT_EQ(get().state, JobState::kReported);
  for (int i = 0; i < 3; ++i) {
    h_->now = std::max(h_->now.load(), get().next_action_at);
    ASSERT_TRUE(oam_->Drive().ok());
    EXPECT_EQ(get().state, JobState::kReported);
    EXPECT_NE(get().detail.find("waits for the PVE"), std::string::npos) << get().detail;
  }
  EXPECT_EQ(outages(), 1);
  pve_down_ = false;
  h_->now = get().next_action_at;
  RunToEnd(fleet);
  EXPECT_EQ(get().state, JobState::kCommitted) << get().detail;
  EXPECT_EQ(outages(), 1);
}

// The OAM takes a completion report and dies before step 9: the report is
// recorded (state `reported`, due now) and the next process's driver
// finishes step 9 from it, exactly once.
TEST_P(UpdateFlowTest, StepNineResumesFromARecordedReportAfterARestart) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("resumed"));
  Json opened = Post(
      "/v1/jobs", {{"device_id", "resumed"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  const int64_t id = opened["id"].get<int64_t>();
  ASSERT_TRUE(fleet[0].agent->PollOnce().ok());  // attest
  ASSERT_TRUE(oam_->Drive().ok());
  UpdateJob job = **h_->store->GetJob(id);
  ASSERT_EQ(job.state, JobState::kOrdered);
  // What the device does for an install, up to its report, by hand: the
  // report is stored as the dying OAM would have stored it.
  auto order = VerifyDeploymentOrder(job.order, oam_key_.Public(), "resumed", h_->now);
  ASSERT_TRUE(order.ok());
  std::string bundle = v2_;
  ASSERT_TRUE(fleet[0].device->Install(bundle, h_->fixture.root, h_->now).ok());
  ASSERT_TRUE(fleet[0].device->Boot().ok());
  auto evidence = EvidenceJson(fleet[0].device->tre(), order->nonce,
                               {PlanSelection(*fleet[0].device->SlotManifest("b"))});
  ASSERT_TRUE(evidence.ok());
  job.report = EncodeAgentReport(AgentReport{id, ReportKind::kInstalled, "by hand", *evidence});
  job.state = JobState::kReported;
  job.next_action_at = h_->now;
  ASSERT_TRUE(*h_->store->TransitionJob(job, JobState::kOrdered,
                                        AuditEntry{0,
                                                   h_->now,
                                                   "device:resumed",
                                                   "job:" + std::to_string(id),
                                                   "reported installed",
                                                   "",
                                                   {},
                                                   {}}));
  // A new OAM process on the same store.
  auto opened_again = Server::Open(Options([](OamConfig&) {}), *h_->store);
  ASSERT_TRUE(opened_again.ok()) << opened_again.error().ToString();
  OamService& restarted = (*opened_again)->oam();
  EXPECT_EQ(*restarted.Drive(), 1);
  EXPECT_EQ((**h_->store->GetJob(id)).state, JobState::kCommitting);
  EXPECT_EQ(*restarted.Drive(), 0);  // done once
  EXPECT_EQ((**h_->store->GetDevice("resumed")).release_version, "2.0");
}

TEST_P(UpdateFlowTest, ASilentDeviceIsRetriedWithBackoffThenFails) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("silent"));
  Json job = Post("/v1/jobs",
                  {{"device_id", "silent"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  const int64_t id = job["id"].get<int64_t>();
  auto get = [&] { return **h_->store->GetJob(id); };
  // While it has not attested yet, the driver looks again every pve_retry,
  // moving only the job's schedule: no audit entry per look.
  const size_t audit_before = h_->store->ListAudit(0, 10'000)->size();
  for (int i = 0; i < 3; ++i) {
    const int64_t due = get().next_action_at;
    h_->now = std::max(h_->now.load(), due);
    EXPECT_EQ(*oam_->Drive(), 0);
    EXPECT_EQ(get().state, JobState::kOpened);
    EXPECT_GT(get().next_action_at, due);
  }
  EXPECT_EQ(h_->store->ListAudit(0, 10'000)->size(), audit_before);
  h_->now = get().next_action_at;
  // It attests, then gets its order, then goes quiet.
  ASSERT_TRUE(fleet[0].agent->PollOnce().ok());
  ASSERT_TRUE(oam_->Drive().ok());
  ASSERT_EQ(get().state, JobState::kOrdered);
  std::vector<int64_t> periods;
  for (int i = 0; i < 10 && get().open; ++i) {
    const UpdateJob before = get();
    h_->now = before.deadline - 1;
    EXPECT_EQ(*oam_->Drive(), 0);  // not yet
    h_->now = before.deadline;
    ASSERT_TRUE(oam_->Drive().ok());
    const UpdateJob after = get();
    if (after.open) {
      EXPECT_EQ(after.state, JobState::kOrdered);
      EXPECT_EQ(after.attempts, before.attempts + 1);
      periods.push_back(after.deadline - h_->now);
      // The re-signed order still carries the same nonce and verifies.
      EXPECT_EQ(after.order_nonce, before.order_nonce);
      auto order = VerifyDeploymentOrder(after.order, oam_key_.Public(), "silent", h_->now);
      EXPECT_TRUE(order.ok()) << order.error().ToString();
    }
  }
  EXPECT_EQ(get().state, JobState::kFailed);
  EXPECT_NE(get().detail.find("did not act"), std::string::npos);
  ASSERT_EQ(periods.size(), 3u);  // max_attempts 4: three retries, then failed
  EXPECT_EQ(periods[1], 2 * periods[0]);
  EXPECT_EQ(periods[2], 2 * periods[1]);
}

// A target whose release counter is below that of the device's recorded
// release is refused at step 1, before anything is signed (the device's
// floor is not the only guard); an equal counter is no downgrade.
TEST_P(UpdateFlowTest, RefusesToOpenADowngradeButNotAnEqualCounter) {
  auto& fx = h_->fixture;
  const std::string v09 = fx.Bundle("v0.9.bundle", fx.DefaultImages("v0.9"), 0, {0, 1}, "0.9");
  const std::string v11 = fx.Bundle("v1.1.bundle", fx.DefaultImages("v1.1"), 1, {0, 1}, "1.1");
  ASSERT_TRUE(oam_->ImportRelease(v09, fx.root, "operator:test").ok());
  ASSERT_TRUE(oam_->ImportRelease(v11, fx.root, "operator:test").ok());
  FleetDevice d = AddDevice("floor");  // runs 1.0, release counter 1
  Json refused = Post("/v1/jobs",
                      {{"device_id", "floor"}, {"release_id", "henb-fw"}, {"version", "0.9"}}, 409);
  EXPECT_EQ(refused["error"]["code"], "policy.error");
  const std::string why = refused["error"].value("message", "");
  EXPECT_NE(why.find("downgrade"), std::string::npos) << why;
  EXPECT_NE(why.find("release counter 0"), std::string::npos) << why;
  auto direct = oam_->OpenJob("floor", "henb-fw", "0.9", "operator:test");
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.error().code(), ErrorCode::kPolicy);
  EXPECT_FALSE(h_->store->OpenJobFor("floor")->has_value());  // nothing opened, nothing signed
  Json same = Post("/v1/jobs",
                   {{"device_id", "floor"}, {"release_id", "henb-fw"}, {"version", "1.1"}}, 201);
  EXPECT_EQ(same["state"], "opened");
}

// The install and commit orders of a committed job, replayed to the device
// within their expiry, are ignored: nothing is installed and nothing is
// reported, also by a new agent on the same device (the finished job is
// kept in the device's directory).
TEST_P(UpdateFlowTest, ADeviceIgnoresReplayedOrdersOfAFinishedJob) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("replayed"));
  FleetDevice& d = fleet[0];
  Json opened = Post(
      "/v1/jobs", {{"device_id", "replayed"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  const int64_t id = opened["id"].get<int64_t>();
  ASSERT_TRUE(d.agent->PollOnce().ok());  // attest
  ASSERT_TRUE(oam_->Drive().ok());
  const UpdateJob ordered = **h_->store->GetJob(id);
  ASSERT_EQ(ordered.state, JobState::kOrdered);
  RunToEnd(fleet);
  const UpdateJob closed = **h_->store->GetJob(id);
  ASSERT_EQ(closed.state, JobState::kCommitted) << closed.detail;
  auto reports = std::make_shared<std::atomic<int>>(0);
  auto replay = [&](UpdateAgent& agent, const std::string& action, const std::string& token) {
    // Still a valid order: the OAM's signature, this device, not expired.
    auto order = VerifyDeploymentOrder(token, oam_key_.Public(), "replayed", h_->now);
    ASSERT_TRUE(order.ok()) << order.error().ToString();
    EXPECT_EQ(AgentActionName(order->action), action);
    EXPECT_EQ(order->job, id);
    const std::string poll = Json({{"action", action}, {"job", id}, {"order", token}}).dump();
    Intercept([poll, reports](const HttpRequest& r) -> std::optional<HttpResponse> {
      if (r.target == "/v1/agent/reports") ++*reports;
      if (r.target != "/v1/agent/poll") return std::nullopt;
      return HttpResponse{200, "application/json", poll, {}};
    });
    auto r = agent.PollOnce();
    Intercept(nullptr);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_NE(r->outcome.find("ignored the order of job " + std::to_string(id)), std::string::npos)
        << r->ToString();
    EXPECT_EQ(reports->load(), 0);
    EXPECT_EQ(d.device->journal().phase, UpdatePhase::kNone);
    EXPECT_EQ(d.device->SlotManifest(d.device->boot_control().active)->version, "2.0");
    EXPECT_TRUE(d.device->SlotManifest("a").has_value());  // 1.0 not overwritten
    EXPECT_EQ(d.device->SlotManifest("a")->version, "1.0");
  };
  replay(*d.agent, "install", ordered.order);
  replay(*d.agent, "commit", closed.order);
  UpdateAgent restarted(*d.client, *d.client, *d.device, oam_key_.Public(), d.agent->config());
  replay(restarted, "install", ordered.order);
  auto finished = ReadTextFile(h_->dir.File("replayed") + "/finished-job");
  EXPECT_TRUE(finished.ok() && *finished == std::to_string(id))
      << (finished.ok() ? *finished : finished.error().ToString());
}

// Under the older catalogue names ("<id>_<version>.bundle") release "a_b"
// version "1" and release "a" version "b_1" shared one file: each is served
// its own bytes. A catalogue of the older names is still served, but a
// shared file only for the release whose manifest it holds.
TEST_P(UpdateFlowTest, ReleasesWhoseOldFileNamesCollideAreEachServedTheirOwnBytes) {
  auto& fx = h_->fixture;
  const std::string ab_1 = CustomBundle("a_b", "1", 1, "ab-1");
  const std::string a_b1 = CustomBundle("a", "b_1", 1, "a-b1");
  ASSERT_NE(testing::ReadText(ab_1), testing::ReadText(a_b1));
  auto imported = oam_->ImportRelease(ab_1, fx.root, "operator:test");
  ASSERT_TRUE(imported.ok()) << imported.error().ToString();
  imported = oam_->ImportRelease(a_b1, fx.root, "operator:test");
  ASSERT_TRUE(imported.ok()) << imported.error().ToString();
  auto get = [&](const std::string& target) {
    auto r = operator_->Request("GET", target);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : HttpResponse{0, "", "", {}};
  };
  HttpResponse first = get("/v1/releases/a_b/1/bundle");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, testing::ReadText(ab_1));
  HttpResponse second = get("/v1/releases/a/b_1/bundle");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, testing::ReadText(a_b1));

  const std::string catalogue = h_->dir.File("catalogue");
  ASSERT_TRUE(std::filesystem::remove(catalogue + "/a_b@1.bundle"));
  ASSERT_TRUE(std::filesystem::remove(catalogue + "/a@b_1.bundle"));
  std::filesystem::copy_file(a_b1, catalogue + "/a_b_1.bundle");  // the last import's
  second = get("/v1/releases/a/b_1/bundle");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, testing::ReadText(a_b1));
  first = get("/v1/releases/a_b/1/bundle");
  EXPECT_EQ(first.status, 404) << first.body.substr(0, 200);
  // Importing it again gives it its own name.
  ASSERT_TRUE(oam_->ImportRelease(ab_1, fx.root, "operator:test").ok());
  EXPECT_EQ(get("/v1/releases/a_b/1/bundle").body, testing::ReadText(ab_1));
}

// No answer carries more than max_answer_bytes (8 MiB by default; 100 here):
// a request without Range, or a range asking for more, gets the first part
// as 206 with its Content-Range, and the agent asks on until it has it all.
TEST_P(UpdateFlowTest, BundleAnswersAreCappedAndTheAgentAsksForTheRest) {
  constexpr size_t kCap = 100;
  RestartOam([](OamConfig& c) { c.max_answer_bytes = kCap; });
  const std::string whole = testing::ReadText(v2_);
  ASSERT_GT(whole.size(), 3 * kCap);
  const std::string total = "/" + std::to_string(whole.size());
  auto get = [&](const std::string& range) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!range.empty()) headers.emplace_back("Range", range);
    auto r = operator_->Request("GET", "/v1/releases/henb-fw/2.0/bundle", "", "", headers);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : HttpResponse{0, "", "", {}};
  };
  auto content_range = [](const HttpResponse& r) {
    for (const auto& [name, value] : r.headers) {
      if (name == "Content-Range") return value;
    }
    return std::string();
  };
  HttpResponse r = get("");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, whole.substr(0, kCap));
  EXPECT_EQ(content_range(r), "bytes 0-99" + total);
  r = get("bytes=10-");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, whole.substr(10, kCap));
  EXPECT_EQ(content_range(r), "bytes 10-109" + total);
  r = get("bytes=10-19");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, whole.substr(10, 10));
  r = get("bytes=" + std::to_string(whole.size() - 5) + "-");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, whole.substr(whole.size() - 5));

  // The agent asks for 4096 bytes at a time and gets 100.
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("capped"));
  Json job = Post("/v1/jobs",
                  {{"device_id", "capped"}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
  RunToEnd(fleet);
  EXPECT_EQ(Get("/v1/jobs/" + std::to_string(job["id"].get<int64_t>()))["state"], "committed");
  EXPECT_EQ(testing::ReadText(h_->dir.File("capped-downloads") + "/henb-fw@2.0.bundle"), whole);
}

// A crash between a download's last byte and its rename leaves a whole
// part, and another leaves one longer than the bundle: the OAM refuses to
// resume past the end, and the agent fetches the bundle afresh, once.
TEST_P(UpdateFlowTest, ADownloadPartLeftWholeOrTooLongByACrashIsFetchedAfresh) {
  const std::string whole = testing::ReadText(v2_);
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("whole-part"));
  fleet.push_back(AddDevice("long-part"));
  std::map<std::string, int64_t> jobs;
  for (auto& d : fleet) {
    const std::string dir = h_->dir.File(d.id + "-downloads");
    ASSERT_TRUE(std::filesystem::create_directories(dir));
    const std::string part = d.id == "whole-part" ? whole : whole + "trailing bytes";
    ASSERT_TRUE(WriteFileAtomic(dir + "/henb-fw@2.0.bundle.part", AsBytes(part)).ok());
    Json job =
        Post("/v1/jobs", {{"device_id", d.id}, {"release_id", "henb-fw"}, {"version", "2.0"}}, 201);
    jobs[d.id] = job["id"].get<int64_t>();
  }
  RunToEnd(fleet);
  for (auto& d : fleet) {
    EXPECT_EQ(Get("/v1/jobs/" + std::to_string(jobs[d.id]))["state"], "committed") << d.id;
    const std::string dir = h_->dir.File(d.id + "-downloads");
    EXPECT_EQ(testing::ReadText(dir + "/henb-fw@2.0.bundle"), whole) << d.id;
    EXPECT_FALSE(std::filesystem::exists(dir + "/henb-fw@2.0.bundle.part")) << d.id;
  }
}

// A client's bundle requests are served at most max_downloads_per_client
// (2) at once, each holding its answer in memory: a third gets 429
// net.busy, another client is served, and the slots come back.
TEST_P(UpdateFlowTest, AClientGetsAtMostTwoBundleDownloadsAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  int held = 0;
  bool go = false;
  RestartOam([&](OamConfig& c) {
    c.while_downloading = [&](const std::string& client) {
      if (client.find("/greedy") == std::string::npos) return;
      std::unique_lock<std::mutex> lock(mu);
      ++held;
      cv.notify_all();
      cv.wait(lock, [&] { return go; });
    };
  });
  // Enrolled devices: the OAM serves only a device's current certificate.
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("greedy"));
  fleet.push_back(AddDevice("modest"));
  auto request = [this](const std::string& device) {
    HttpRequest r{"GET", "/v1/releases/henb-fw/2.0/bundle", "", "bytes=0-99", "", {}};
    r.peer = {true,
              true,
              "",
              device,
              std::string(kRoleDevice),
              {},
              (**h_->store->GetDevice(device)).certificate_serial};
    return r;
  };
  std::vector<HttpResponse> answers(2);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < answers.size(); ++i) {
    threads.emplace_back([&, i] { answers[i] = oam_->Handle(request("greedy")); });
  }
  bool both_in = false;
  {
    std::unique_lock<std::mutex> lock(mu);
    both_in = cv.wait_for(lock, std::chrono::seconds(30), [&] { return held == 2; });
  }
  const HttpResponse third = oam_->Handle(request("greedy"));
  const HttpResponse other = oam_->Handle(request("modest"));
  {
    std::lock_guard<std::mutex> lock(mu);
    go = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(both_in);
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(Json::parse(third.body, nullptr, false)["error"]["code"], "net.busy") << third.body;
  EXPECT_EQ(other.status, 206) << other.body;
  for (const auto& a : answers) {
    EXPECT_EQ(a.status, 206) << a.body;
    EXPECT_EQ(a.body, testing::ReadText(v2_).substr(0, 100));
  }
  EXPECT_EQ(oam_->Handle(request("greedy")).status, 206);  // the slots came back
}

INSTANTIATE_TEST_SUITE_P(Backends, UpdateFlowTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

TEST(DeploymentOrder, IsBoundToItsSignerDeviceAndExpiry) {
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  auto other = *PrivateKey::Generate(KeyType::kEcP256);
  DeploymentOrder o{
      7, AgentAction::kInstall, "henb-1", "henb-fw", "2.0", Bytes(32, 1), Bytes(32, 2), 100, 200};
  auto token = SignDeploymentOrder(o, key);
  ASSERT_TRUE(token.ok());
  auto ok = VerifyDeploymentOrder(*token, key.Public(), "henb-1", 150);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->expected_tim, o.expected_tim);
  EXPECT_EQ(ok->nonce, o.nonce);
  EXPECT_EQ(VerifyDeploymentOrder(*token, other.Public(), "henb-1", 150).error().code(),
            ErrorCode::kPolicyOrder);
  EXPECT_EQ(VerifyDeploymentOrder(*token, key.Public(), "henb-2", 150).error().code(),
            ErrorCode::kPolicyOrder);
  EXPECT_EQ(VerifyDeploymentOrder(*token, key.Public(), "henb-1", 200).error().code(),
            ErrorCode::kPolicyOrder);
  std::string forged = *token;
  forged[forged.find('.') + 5] ^= 1;
  EXPECT_FALSE(VerifyDeploymentOrder(forged, key.Public(), "henb-1", 150).ok());
}

}  // namespace
}  // namespace henbtrust
