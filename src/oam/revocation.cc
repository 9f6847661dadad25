// Revoking a release so that it leads to recovery, not to a fleet locked on
// it (docs/oam.md, "Revocation"): the revocation quarantines the devices on
// it at once (the PVE's access decision reads it), and a reinstall
// campaign, which needs no affirming appraisal, takes them to a safe
// release; step 9 of each job re-appraises its device.
#include "henbtrust/net/api.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

constexpr int kDefaultRevocationRate = 50;  // reinstall jobs opened per second

std::string ReleaseSubject(const std::string& release_id, const std::string& version) {
  return "release:" + release_id + "/" + version;
}

}  // namespace

Result<RevocationOutcome> OamService::Impl::RevokeRelease(const ReleaseRevocation& r,
                                                          const std::string& actor) {
  if (!IsValidRelease(r.release_id, r.version) || !IsValidRelease(r.release_id, r.safe_version)) {
    return api::BadRequest("malformed release");
  }
  if (r.safe_version == r.version) {
    return Error(ErrorCode::kPolicy, "the safe version must not be the revoked one");
  }
  HENB_ASSIGN_OR_RETURN(ReleaseManifest revoked, LoadManifest(r.release_id, r.version));
  bool safe_revoked = false;
  HENB_ASSIGN_OR_RETURN(ReleaseManifest safe,
                        LoadManifest(r.release_id, r.safe_version, &safe_revoked));
  if (safe_revoked) {
    return Error(ErrorCode::kPolicy, "the safe version " + r.safe_version + " is itself revoked");
  }
  if (safe.release_counter < revoked.release_counter) {
    return Error(ErrorCode::kPolicy,
                 "the safe version " + r.safe_version + " (release counter " +
                     std::to_string(safe.release_counter) + ") is below " + r.version +
                     " (release counter " + std::to_string(revoked.release_counter) +
                     "): devices that committed " + r.version +
                     " refuse it (anti-rollback); publish a fixed release with a counter of at "
                     "least " +
                     std::to_string(revoked.release_counter));
  }
  const int64_t now = config.now();
  const std::string reason = r.reason.empty() ? "revoked" : r.reason;
  HENB_TRY(store.RevokeRelease(r.release_id, r.version, reason,
                               AuditEntry{0,
                                          now,
                                          actor,
                                          ReleaseSubject(r.release_id, r.version),
                                          "release revoked",
                                          reason + "; safe version " + r.safe_version,
                                          {},
                                          {}}));
  RevocationOutcome out{r.release_id, r.version, r.safe_version, 0, std::nullopt};
  CreateCampaignRequest campaign;
  campaign.release_id = r.release_id;
  campaign.version = r.safe_version;
  campaign.kind = JobKind::kReinstall;
  campaign.selection.running_release_id = r.release_id;
  campaign.selection.running_version = r.version;
  campaign.rate = r.rate > 0 ? r.rate : kDefaultRevocationRate;
  auto created = CreateCampaign(campaign, actor);
  if (!created.ok()) {
    // No enrolled device runs it: the revocation stands, nothing to reinstall.
    if (created.error().code() == ErrorCode::kInvalidArgument) return out;
    return created.error();
  }
  out.devices = created->members;
  out.campaign = std::move(created).value();
  return out;
}

Status OamService::Impl::UnrevokeRelease(const std::string& release_id, const std::string& version,
                                         const std::string& reason, const std::string& actor) {
  if (!IsValidRelease(release_id, version)) return api::BadRequest("malformed release");
  HENB_ASSIGN_OR_RETURN(auto record, store.GetManifest(release_id, version));
  if (!record) {
    return Error(ErrorCode::kPolicyUnknownRelease,
                 "no release " + release_id + " " + version + " in the catalogue");
  }
  if (record->revoked_reason.empty()) {
    return Error(ErrorCode::kPolicy, "release " + release_id + " " + version + " is not revoked");
  }
  auto st = store.UnrevokeRelease(release_id, version,
                                  AuditEntry{0,
                                             config.now(),
                                             actor,
                                             ReleaseSubject(release_id, version),
                                             "revocation withdrawn",
                                             reason.empty() ? "withdrawn" : reason,
                                             {},
                                             {}});
  if (!st.ok() && st.error().code() == ErrorCode::kNotFound) {
    return Error(ErrorCode::kPolicyUnknownRelease, st.error().message());
  }
  return st;
}

Result<HttpResponse> OamService::Impl::RevokeApi(const HttpRequest& req) {
  HENB_TRY(api::RequireJsonContent(req));
  HENB_ASSIGN_OR_RETURN(ReleaseRevocation r, DecodeReleaseRevocation(req.body));
  HENB_ASSIGN_OR_RETURN(RevocationOutcome out,
                        RevokeRelease(r, "operator:" + req.peer.common_name));
  return api::JsonText(200, EncodeRevocationOutcome(out));
}

Result<HttpResponse> OamService::Impl::UnrevokeApi(const HttpRequest& req,
                                                   const std::string& release_id,
                                                   const std::string& version) {
  HENB_TRY(UnrevokeRelease(release_id, version, "", "operator:" + req.peer.common_name));
  return api::JsonText(200, EncodeRevocationOutcome({release_id, version, "", 0, std::nullopt}));
}

Result<RevocationOutcome> OamService::RevokeRelease(const ReleaseRevocation& request,
                                                    const std::string& actor) {
  return impl_->RevokeRelease(request, actor);
}

Status OamService::UnrevokeRelease(const std::string& release_id, const std::string& version,
                                   const std::string& reason, const std::string& actor) {
  return impl_->UnrevokeRelease(release_id, version, reason, actor);
}

}  // namespace henbtrust
