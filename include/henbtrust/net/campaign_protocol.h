// The operator's campaign messages (docs/api/oam.yaml, /v1/campaigns): one
// codec per message, used by the OAM and by its clients alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/result.h"
#include "henbtrust/net/paging.h"
#include "henbtrust/store/campaign.h"

namespace henbtrust {

// Which devices a campaign takes: every enrolled device that matches all of
// the given criteria (none given: every enrolled device).
struct CampaignSelection {
  std::string hardware_model = {};        // exactly this model
  std::string running_release_id = {};    // and (if given) of this release id
  std::string running_version = {};       // its recorded release version is this one
  std::vector<std::string> devices = {};  // only these ids
  std::string group = {};                 // only devices with this group label
};
// Group labels (`henbtrust server group`): letters, digits, '-', '_', '.',
// at most 64 bytes, neither "." nor "..".
bool IsValidGroupName(std::string_view name);
// "model=M release=[ID:]V group=G devices=a,b" (terms apart by spaces, any order, each
// at most once); "" or "all" selects every device. kInvalidArgument naming
// the term otherwise.
Result<CampaignSelection> ParseCampaignSelection(std::string_view expression);
// The selection in that syntax ("all" when empty), for people: a list of
// more than three devices is shown as its first three "and N more".
std::string FormatCampaignSelection(const CampaignSelection& selection);

// POST /v1/campaigns.
struct CreateCampaignRequest {
  std::string release_id;
  std::string version;
  JobKind kind = JobKind::kUpdate;
  CampaignSelection selection = {};
  int batch_size = 0;             // 0: one batch
  int max_failure_percent = 100;  // 0 to 100
  int rate = 0;                   // jobs opened per second at most; 0: no limit
};
std::string EncodeCreateCampaignRequest(const CreateCampaignRequest& request);
Result<CreateCampaignRequest> DecodeCreateCampaignRequest(std::string_view text);

// How a campaign's members stand.
struct CampaignCounts {
  int committed = 0;
  int rolled_back = 0;
  int failed = 0;
  int refused = 0;  // refused by the OAM before a job opened, or ended refused
  int pending = 0;  // no job yet, or one still open
};

// A campaign as the OAM shows it (GET /v1/campaigns/{id}, and the list).
struct CampaignView {
  Campaign campaign;
  CampaignCounts counts = {};
  int members = 0;
};
std::string EncodeCampaignView(const CampaignView& view);
Result<CampaignView> DecodeCampaignView(std::string_view text);
// GET /v1/campaigns?after=ID&limit=N: {"campaigns": [...], "next"}, by id.
std::string EncodeCampaignList(const Page<CampaignView>& views);
Result<Page<CampaignView>> DecodeCampaignList(std::string_view text);

// GET /v1/groups/{name}?after=DEVICE&limit=N: {"group", "devices": [ids],
// "next"}.
std::string EncodeGroupMembers(const std::string& group, const Page<std::string>& devices);
Result<Page<std::string>> DecodeGroupMembers(std::string_view text);

// POST /v1/revocations: revoke a release and bring its devices to a safe one.
struct ReleaseRevocation {
  std::string release_id;
  std::string version;       // revoked
  std::string safe_version;  // of the same release id; the devices are reinstalled to it
  std::string reason = {};
  int rate = 0;  // reinstall jobs opened per second at most; 0: the OAM's default
};
std::string EncodeReleaseRevocation(const ReleaseRevocation& request);
Result<ReleaseRevocation> DecodeReleaseRevocation(std::string_view text);

// Its answer: how many devices ran the revoked release, and the reinstall
// campaign that takes them to the safe one (none when no device ran it).
struct RevocationOutcome {
  std::string release_id;
  std::string version;
  std::string safe_version;
  int devices = 0;
  std::optional<CampaignView> campaign = std::nullopt;
};
std::string EncodeRevocationOutcome(const RevocationOutcome& outcome);
Result<RevocationOutcome> DecodeRevocationOutcome(std::string_view text);

}  // namespace henbtrust
