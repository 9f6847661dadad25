// OamService: its routes, and the objects its files share (oam_impl.h).
#include <unistd.h>

#include <array>
#include <cctype>

#include "henbtrust/crypto/random.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/protocol.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

bool IsValidReleasePart(std::string_view s, size_t max_bytes) {
  if (s.empty() || s.size() > max_bytes) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      return false;
  }
  return s != "." && s != "..";
}

// "<host>/<pid>/<random>": unique among the instances sharing a store,
// and telling an operator where each one runs.
std::string MakeInstanceId() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  auto random = RandomBytes(4);
  return std::string(host.data()) + "/" + std::to_string(getpid()) + "/" +
         (random.ok() ? HexEncode(*random) : "0");
}

}  // namespace

bool IsValidRelease(std::string_view release_id, std::string_view version) {
  return IsValidReleasePart(release_id, kMaxReleaseIdBytes) &&
         IsValidReleasePart(version, kMaxReleaseVersionBytes);
}

JobView ViewOf(const UpdateJob& j) {
  return JobView{j.id,           j.device_id, j.release_id, j.version,    j.from_release_id,
                 j.from_version, j.kind,      j.state,      j.open,       j.expected_tim,
                 j.deadline,     j.attempts,  j.detail,     j.created_at, j.updated_at};
}

OamService::Impl::Impl(Store& s, PveLink p, OamConfig c)
    : store(s), pve(std::move(p)), config(std::move(c)), router(Routes()) {
  if (config.env == nullptr) config.env = Env::Default();
  if (!config.now) config.now = [env = config.env] { return env->NowUnixSeconds(); };
  if (config.instance_id.empty()) config.instance_id = MakeInstanceId();
  if (config.lease < 2) config.lease = 2;
}

// Every endpoint of the OAM (docs/api/oam.yaml): one row each.
std::vector<Route> OamService::Impl::Routes() {
  const std::vector<std::string_view> device = {kRoleDevice};
  const std::vector<std::string_view> recovery = {kRoleRecovery};
  const std::vector<std::string_view> operators = {kRoleOperator};
  auto from_device = [this](Result<HttpResponse> (Impl::*handler)(const HttpRequest&)) {
    return [this, handler](const HttpRequest& req, const PathSegments&) -> Result<HttpResponse> {
      HENB_TRY(CheckDeviceCaller(req.peer));
      return (this->*handler)(req);
    };
  };
  return {
      {"POST", "/v1/agent/poll", device,
       [this](const HttpRequest& req, const PathSegments&) -> Result<HttpResponse> {
         HENB_TRY(CheckDeviceCaller(req.peer));
         return Poll(req);
       }},
      {"POST", "/v1/agent/reports", device,
       [this](const HttpRequest& req, const PathSegments&) -> Result<HttpResponse> {
         HENB_TRY(CheckDeviceCaller(req.peer));
         return Report(req);
       }},
      {"POST", "/v1/agent/ticket", device, from_device(&Impl::TicketApi)},
      // The recovery image's endpoints (docs/recovery.md), for its own
      // role only: contact, and a recover job's poll, reports and bundle.
      {"POST", "/v1/recovery/contact", recovery,
       [this](const HttpRequest& req, const PathSegments&) -> Result<HttpResponse> {
         HENB_TRY(CheckRecoveryCaller(req.peer));
         return RecoveryContactApi(req);
       }},
      {"POST", "/v1/recovery/poll", recovery,
       [this](const HttpRequest& req, const PathSegments&) -> Result<HttpResponse> {
         HENB_TRY(CheckRecoveryCaller(req.peer));
         return Poll(req, true);
       }},
      {"POST", "/v1/recovery/reports", recovery,
       [this](const HttpRequest& req, const PathSegments&) -> Result<HttpResponse> {
         HENB_TRY(CheckRecoveryCaller(req.peer));
         return Report(req, true);
       }},
      {"GET", "/v1/recovery/releases/*/*/bundle", recovery,
       [this](const HttpRequest& req, const PathSegments& path) -> Result<HttpResponse> {
         HENB_TRY(CheckRecoveryCaller(req.peer));
         return Bundle(req, path[3], path[4]);
       }},
      {"GET",
       "/v1/releases/*/*/bundle",
       {kRoleDevice, kRoleOperator},
       [this](const HttpRequest& req, const PathSegments& path) -> Result<HttpResponse> {
         if (req.peer.organization == kRoleDevice) HENB_TRY(CheckDeviceCaller(req.peer));
         return Bundle(req, path[2], path[3]);
       }},
      {"GET", "/v1/jobs", operators,
       [this](const HttpRequest& req, const PathSegments&) { return ListJobs(req); }},
      {"POST", "/v1/jobs", operators,
       [this](const HttpRequest& req, const PathSegments&) { return CreateJob(req); }},
      {"GET", "/v1/jobs/*", operators,
       [this](const HttpRequest&, const PathSegments& path) { return GetJob(path[2]); }},
      {"GET", "/v1/inventory", operators,
       [this](const HttpRequest& req, const PathSegments&) { return Inventory(req); }},
      {"GET", "/v1/audit", operators,
       [this](const HttpRequest& req, const PathSegments&) { return ListAudit(req); }},
      {"POST", "/v1/revocations", operators,
       [this](const HttpRequest& req, const PathSegments&) { return RevokeApi(req); }},
      {"POST", "/v1/revocations/*/*/withdrawal", operators,
       [this](const HttpRequest& req, const PathSegments& path) {
         return UnrevokeApi(req, path[2], path[3]);
       }},
      {"GET", "/v1/groups/*", operators,
       [this](const HttpRequest& req, const PathSegments& path) {
         return GroupMembersApi(req, path[2]);
       }},
      {"PUT", "/v1/groups/*/devices/*", operators,
       [this](const HttpRequest& req, const PathSegments& path) {
         return ChangeGroupApi(req, path[2], path[4], true);
       }},
      {"DELETE", "/v1/groups/*/devices/*", operators,
       [this](const HttpRequest& req, const PathSegments& path) {
         return ChangeGroupApi(req, path[2], path[4], false);
       }},
      {"GET", "/v1/campaigns", operators,
       [this](const HttpRequest& req, const PathSegments&) { return ListCampaignsApi(req); }},
      {"POST", "/v1/campaigns", operators,
       [this](const HttpRequest& req, const PathSegments&) { return CreateCampaignApi(req); }},
      {"GET", "/v1/campaigns/*", operators,
       [this](const HttpRequest&, const PathSegments& path) { return GetCampaignApi(path[2]); }},
      {"POST", "/v1/campaigns/*/pause", operators,
       [this](const HttpRequest& req, const PathSegments& path) {
         return ChangeCampaignApi(req, path[2], CampaignAction::kPause);
       }},
      {"POST", "/v1/campaigns/*/resume", operators,
       [this](const HttpRequest& req, const PathSegments& path) {
         return ChangeCampaignApi(req, path[2], CampaignAction::kResume);
       }},
      {"POST", "/v1/campaigns/*/abort", operators,
       [this](const HttpRequest& req, const PathSegments& path) {
         return ChangeCampaignApi(req, path[2], CampaignAction::kAbort);
       }},
  };
}

Status OamService::Impl::CheckDeviceCaller(const PeerIdentity& peer) {
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(peer.common_name));
  if (!device) {
    return Error(ErrorCode::kNetUnauthenticated, "no enrolled device " + peer.common_name);
  }
  return CheckDeviceCertificate(*device, peer.serial);
}

Status OamService::Impl::CheckRecoveryCaller(const PeerIdentity& peer) {
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(peer.common_name));
  if (!device) {
    return Error(ErrorCode::kNetUnauthenticated, "no enrolled device " + peer.common_name);
  }
  return CheckRecoveryCertificate(*device, peer.certificate_der);
}

OamService::OamService(Store& store, PveLink pve, OamConfig config)
    : impl_(std::make_unique<Impl>(store, std::move(pve), std::move(config))) {}
OamService::~OamService() = default;

HttpResponse OamService::Handle(const HttpRequest& request) {
  return impl_->router.Dispatch(request);
}

bool OamService::Serves(std::string_view target) const { return impl_->router.Serves(target); }

Status OamService::SetDeviceGroup(const std::string& group, const std::string& device_id,
                                  bool member, const std::string& actor) {
  return impl_->SetDeviceGroup(group, device_id, member, actor);
}

Result<Page<std::string>> OamService::GroupMembers(const std::string& group,
                                                   const PageQuery& page) {
  return impl_->GroupMembers(group, page);
}

const std::string& OamService::InstanceId() const { return impl_->config.instance_id; }

Result<UpdateJob> OamService::OpenJob(const std::string& device_id, const std::string& release_id,
                                      const std::string& version, const std::string& actor,
                                      JobKind kind) {
  return impl_->OpenJob(device_id, release_id, version, actor, kind);
}

}  // namespace henbtrust
