// The campaign and revocation messages: selections read and written, every
// message round-trips, and no bad text makes a decoder throw.
#include "henbtrust/net/campaign_protocol.h"

#include <gtest/gtest.h>

#include "support/bad_json.h"

namespace henbtrust {
namespace {

TEST(CampaignSelection, ReadsEveryTermAndNamesWhatIsWrong) {
  auto all = ParseCampaignSelection("all");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->hardware_model.empty() && all->running_version.empty() && all->devices.empty());
  EXPECT_TRUE(ParseCampaignSelection("")->devices.empty());
  auto s =
      ParseCampaignSelection("  model=femto-a1 release=henb-fw:2.0 devices=a,b,c group=north ");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->hardware_model, "femto-a1");
  EXPECT_EQ(s->running_release_id, "henb-fw");
  EXPECT_EQ(s->running_version, "2.0");
  EXPECT_EQ(s->devices, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s->group, "north");
  EXPECT_EQ(FormatCampaignSelection(*s),
            "model=femto-a1 release=henb-fw:2.0 group=north devices=a,b,c");
  EXPECT_EQ(ParseCampaignSelection("release=2.0")->running_release_id, "");
  EXPECT_EQ(FormatCampaignSelection({}), "all");
  CampaignSelection many;
  many.devices = {"a", "b", "c", "d", "e"};
  EXPECT_EQ(FormatCampaignSelection(many), "devices=a,b,c and 2 more");

  const std::pair<const char*, const char*> bad[] = {
      {"model=", "no value"},
      {"model=a model=b", "given twice"},
      {"colour=red", "unknown"},
      {"group=a group=b", "given twice"},
      {"group=no/slash", "a group name is"},
      {"group=..", "a group name is"},
      {"devices=a,,b", "an empty device id"},
      {"devices=a,", "an empty device id"},
      {"release=:2.0", "both parts"},
      {"release=fw:", "both parts"},
  };
  for (const auto& [text, why] : bad) {
    auto r = ParseCampaignSelection(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
  }
}

CampaignView SampleView() {
  CampaignView v;
  v.campaign.id = 7;
  v.campaign.release_id = "henb-fw";
  v.campaign.version = "2.1";
  v.campaign.kind = JobKind::kReinstall;
  v.campaign.selection = "release=henb-fw:2.0";
  v.campaign.batch_size = 10;
  v.campaign.max_failure_percent = 5;
  v.campaign.rate = 50;
  v.campaign.state = CampaignState::kPaused;
  v.campaign.detail = "paused";
  v.campaign.created_at = 100;
  v.campaign.updated_at = 200;
  v.members = 12;
  v.counts = {3, 1, 1, 2, 5};
  return v;
}

TEST(CampaignProtocol, EveryMessageRoundTrips) {
  CreateCampaignRequest r;
  r.release_id = "henb-fw";
  r.version = "2.1";
  r.kind = JobKind::kRecover;
  r.selection.hardware_model = "femto-a1";
  r.selection.running_release_id = "henb-fw";
  r.selection.running_version = "2.0";
  r.selection.devices = {"a", "b"};
  r.selection.group = "north";
  r.batch_size = 4;
  r.max_failure_percent = 20;
  r.rate = 3;
  auto back = DecodeCreateCampaignRequest(EncodeCreateCampaignRequest(r));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->kind, JobKind::kRecover);
  EXPECT_EQ(back->selection.devices, r.selection.devices);
  EXPECT_EQ(back->selection.group, "north");
  EXPECT_FALSE(
      DecodeCreateCampaignRequest(R"({"release_id":"r","version":"1","select":{"group":"a b"}})")
          .ok());
  EXPECT_EQ(back->selection.running_release_id, "henb-fw");
  EXPECT_EQ(back->batch_size, 4);
  EXPECT_EQ(back->max_failure_percent, 20);
  EXPECT_EQ(back->rate, 3);
  // The least a request says: defaults for the rest.
  auto least = DecodeCreateCampaignRequest(R"({"release_id":"r","version":"1"})");
  ASSERT_TRUE(least.ok());
  EXPECT_EQ(least->kind, JobKind::kUpdate);
  EXPECT_EQ(least->max_failure_percent, 100);
  EXPECT_FALSE(
      DecodeCreateCampaignRequest(R"({"release_id":"r","version":"1","max_failure_percent":101})")
          .ok());
  EXPECT_FALSE(DecodeCreateCampaignRequest(R"({"release_id":"r","version":"1","kind":"x"})").ok());
  EXPECT_FALSE(
      DecodeCreateCampaignRequest(R"({"release_id":"r","version":"1","select":{"devices":[1]}})")
          .ok());

  const CampaignView v = SampleView();
  auto view = DecodeCampaignView(EncodeCampaignView(v));
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_EQ(view->campaign.state, CampaignState::kPaused);
  EXPECT_EQ(view->campaign.kind, JobKind::kReinstall);
  EXPECT_EQ(view->campaign.rate, 50);
  EXPECT_EQ(view->members, 12);
  EXPECT_EQ(view->counts.rolled_back, 1);
  EXPECT_EQ(view->counts.pending, 5);
  auto list = DecodeCampaignList(EncodeCampaignList({{v, v}, "9"}));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->next, "9");

  auto revocation =
      DecodeReleaseRevocation(EncodeReleaseRevocation({"henb-fw", "2.0", "2.1", "CVE-2026-1", 9}));
  ASSERT_TRUE(revocation.ok());
  EXPECT_EQ(revocation->safe_version, "2.1");
  EXPECT_EQ(revocation->rate, 9);
  auto outcome = DecodeRevocationOutcome(EncodeRevocationOutcome({"henb-fw", "2.0", "2.1", 12, v}));
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  ASSERT_TRUE(outcome->campaign.has_value());
  EXPECT_EQ(outcome->campaign->campaign.id, 7);
  auto none = DecodeRevocationOutcome(EncodeRevocationOutcome({"henb-fw", "2.0", "2.1", 0, {}}));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->campaign.has_value());
}

template <typename Decode>
void Survives(const std::string& good, Decode decode) {
  ASSERT_TRUE(decode(good).ok()) << good;
  int refused = 0;
  for (const auto& bad : testing::BadVariants(good)) {
    SCOPED_TRACE(bad.what);
    bool ok = true;
    EXPECT_NO_THROW(ok = decode(bad.text).ok());
    if (!ok) ++refused;
  }
  EXPECT_GT(refused, 0);
}

TEST(CampaignProtocol, NoBadTextMakesADecoderThrow) {
  CreateCampaignRequest r;
  r.release_id = "henb-fw";
  r.version = "2.1";
  r.selection.devices = {"a"};
  Survives(EncodeCreateCampaignRequest(r), DecodeCreateCampaignRequest);
  Survives(EncodeCampaignView(SampleView()), DecodeCampaignView);
  Survives(EncodeCampaignList({{SampleView()}, "1"}), DecodeCampaignList);
  Survives(EncodeReleaseRevocation({"henb-fw", "2.0", "2.1", "why", 1}), DecodeReleaseRevocation);
  Survives(EncodeRevocationOutcome({"henb-fw", "2.0", "2.1", 1, SampleView()}),
           DecodeRevocationOutcome);
}

}  // namespace
}  // namespace henbtrust
