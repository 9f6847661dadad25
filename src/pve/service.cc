#include "henbtrust/pve/service.h"

#include <ctime>
#include <future>

#include "henbtrust/core/file.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/net/paging.h"
#include "henbtrust/release/manifest.h"
#include "pve/service_impl.h"

namespace henbtrust {

namespace {

using namespace api;

// Revocations reach every instance within this time.
constexpr int64_t kManifestCacheTtlMillis = 1000;

}  // namespace

PveService::Impl::Impl(Store& s, PveConfig c)
    : store(s), config(std::move(c)), appraiser(config.policy_id) {
  if (!config.now) config.now = [env = config.env] { return env->NowUnixSeconds(); };
  if (config.nonce_key.empty()) config.nonce_key = RandomBytes(32).value();
  ca_pem = config.client_ca.ToPem();
}

PveService::PveService(Store& store, PveConfig config)
    : impl_(std::make_unique<Impl>(store, std::move(config))) {}
PveService::~PveService() = default;

HttpResponse PveService::Handle(const HttpRequest& request) {
  std::promise<HttpResponse> answer;
  auto response = answer.get_future();
  HandleAsync(request, [&answer](HttpResponse r) { answer.set_value(std::move(r)); });
  return response.get();
}

bool PveService::Serves(std::string_view target) const { return impl_->router.Serves(target); }

void PveService::HandleAsync(const HttpRequest& request, HttpResponder respond) {
  Impl& s = *impl_;
  if (s.AnswersOnCaller(request)) return s.HandleNow(request, std::move(respond));
  s.blocking.Post([&s, request, respond = std::move(respond)] {
    try {
      s.HandleNow(request, respond);
    } catch (const std::exception& e) {  // answered 500, as the server does for its own threads
      respond(ErrorResponse(Error(ErrorCode::kInternal, e.what())));
    }
  });
}

namespace {

double ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

}  // namespace

void PveService::Impl::HandleNow(const HttpRequest& request, HttpResponder respond) {
  requests.fetch_add(1, std::memory_order_relaxed);
  const double before = config.on_handled ? ThreadCpuMicros() : 0;
  router.Dispatch(request, [this, respond = std::move(respond)](HttpResponse response) {
    Count(response);
    respond(std::move(response));
  });
  if (config.on_handled) config.on_handled(request, ThreadCpuMicros() - before);
}

void PveService::Impl::RecordPush(const HttpRequest& req, HttpResponder respond) {
  // Ended on every way out, the record handed over or not.
  class UnderWay {
   public:
    explicit UnderWay(Store& s) : store_(s) { store_.AppraisalUnderWay(); }
    ~UnderWay() { store_.AppraisalEnded(); }
    UnderWay(const UnderWay&) = delete;
    UnderWay& operator=(const UnderWay&) = delete;

   private:
    Store& store_;
  } under_way(store);
  Result<Prepared> push = PushEvidence(req);
  if (!push.ok()) return respond(ErrorResponse(push.error()));
  {
    MutexLock lock(pending_mu);
    ++pushes_pending;
  }
  AppraisalRecord record = std::move(push->record);
  store.RecordAppraisalAsync(
      std::move(record),
      [this, p = std::move(push).value(), respond = std::move(respond)](const Result<int64_t>& id) {
        respond(Answer(p, id));
        MutexLock lock(pending_mu);
        if (--pushes_pending == 0) pending_cv.notify_all();
      });
}

void PveService::Impl::Count(const HttpResponse& response) {
  if (response.status >= 500) {
    server_errors.fetch_add(1, std::memory_order_relaxed);
  } else if (response.status >= 400) {
    client_errors.fetch_add(1, std::memory_order_relaxed);
  }
}

// The PVE's API (docs/api/pve.yaml), one route per method and path.
std::vector<Route> PveService::Impl::Routes() {
  using Path = PathSegments;
  Impl& s = *this;
  return {
      {"GET",
       "/healthz",
       {},
       [&s](const HttpRequest&, const Path&) -> Result<HttpResponse> {
         return JsonResponse(200, {{"status", "ok"}, {"store", s.store.Backend()}});
       }},
      {"GET",
       "/metrics",
       {},
       [&s](const HttpRequest&, const Path&) -> Result<HttpResponse> { return s.Metrics(); }},
      {"POST",
       "/v1/enrollments",
       {},
       [&s](const HttpRequest& req, const Path&) { return BeginEnrollment(s.Enrolling(), req); }},
      {"POST",
       "/v1/enrollments/*/activation",
       {},
       [&s](const HttpRequest& req, const Path& path) {
         return FinishEnrollment(s.Enrolling(), req, path[2]);
       }},
      {"POST",
       "/v1/nonces",
       {kRoleDevice},
       [&s](const HttpRequest& req, const Path&) { return s.IssueNonce(req); }},
      {"POST",
       "/v1/evidence",
       {kRoleDevice},
       nullptr,
       [&s](const HttpRequest& req, const Path&, HttpResponder respond) {
         s.RecordPush(req, std::move(respond));
       }},
      {"GET",
       "/v1/appraisals",
       {kRoleOperator},
       [&s](const HttpRequest& req, const Path&) { return s.ListAppraisals(req); }},
      {"GET",
       "/v1/devices/*",
       {kRoleOperator},
       [&s](const HttpRequest&, const Path& path) { return s.DeviceInfo(path[2]); }},
      {"POST",
       "/v1/devices/*/appraisals",
       {kRoleOperator},
       [&s](const HttpRequest&, const Path& path) { return s.PullAppraisal(path[2]); }},
      {"POST",
       "/v1/devices/*/update-appraisals",
       {kRoleOperator},
       [&s](const HttpRequest& req, const Path& path) { return s.UpdateAppraisal(req, path[2]); }},
      {"PUT",
       "/v1/devices/*/configuration",
       {kRoleOperator},
       [&s](const HttpRequest& req, const Path& path) { return s.SetConfiguration(req, path[2]); }},
      {"GET",
       "/v1/devices/*/attestation-result",
       {kRoleOperator, kRoleSegw, kRoleDevice},
       [&s](const HttpRequest& req, const Path& path) -> Result<HttpResponse> {
         if (req.peer.organization == kRoleDevice) {
           if (req.peer.common_name != path[2])
             return Error(ErrorCode::kNetForbidden, "a device may read only its own result");
           HENB_TRY(s.LoadCaller(req));
         }
         return s.LatestResult(path[2]);
       }},
      {"GET",
       "/v1/devices/*/access-decision",
       {kRoleSegw, kRoleOperator},
       [&s](const HttpRequest& req, const Path& path) { return s.AccessDecision(req, path[2]); }},
      {"POST",
       "/v1/devices/*/revocation",
       {kRoleOperator},
       [&s](const HttpRequest& req, const Path& path) { return s.RevokeDevice(req, path[2]); }},
      {"POST",
       "/v1/devices/*/certificate-renewal",
       {kRoleDevice},
       [&s](const HttpRequest& req, const Path& path) { return s.RenewCertificate(req, path[2]); }},
      {"POST",
       "/v1/devices/*/decommissioning",
       {kRoleOperator},
       [&s](const HttpRequest& req, const Path& path) { return s.Decommission(req, path[2]); }},
      {"POST",
       "/v1/releases/*/*/revocation",
       {kRoleOperator},
       [&s](const HttpRequest& req, const Path& path) { return s.Revoke(req, path[2], path[3]); }},
  };
}

Result<DeviceRecord> PveService::Impl::LoadDevice(const std::string& device_id) {
  if (!IsValidDeviceId(device_id)) return BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(device_id));
  if (!device) return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + device_id);
  return std::move(*device);
}

Result<DeviceRecord> PveService::Impl::LoadCaller(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(req.peer.common_name));
  HENB_TRY(CheckDeviceCertificate(device, req.peer.serial));
  return device;
}

Result<std::shared_ptr<const PveService::Impl::Reference>> PveService::Impl::LoadReference(
    const DeviceRecord& device) {
  const auto key = std::make_pair(device.release_id, device.release_version);
  const int64_t now = config.env->SteadyMillis();
  {
    MutexLock lock(cache_mu);
    auto it = references.find(key);
    if (it != references.end() && now - it->second.fetched_millis < kManifestCacheTtlMillis)
      return it->second.reference;
  }
  HENB_ASSIGN_OR_RETURN(auto record, store.GetManifest(device.release_id, device.release_version));
  if (!record) {
    return Error(
        ErrorCode::kPolicyUnknownRelease,
        "no reference manifest for release " + device.release_id + " " + device.release_version);
  }
  auto manifest = ParseManifest(record->manifest);
  if (!manifest.ok()) {
    return Error(ErrorCode::kInternal,
                 "stored manifest does not parse: " + manifest.error().ToString());
  }
  const std::string selection = FormatPcrSelection({PlanSelection(*manifest)});
  auto ref = std::make_shared<const Reference>(
      Reference{std::move(manifest).value(), !record->revoked_reason.empty(), selection});
  MutexLock lock(cache_mu);
  references[key] = {ref, now};
  return ref;
}

HttpResponse PveService::Impl::Metrics() const {
  std::string out;
  auto line = [&out](const char* name, const char* labels, uint64_t v) {
    out += name;
    out += labels;
    out += ' ';
    out += std::to_string(v);
    out += '\n';
  };
  out += "# TYPE henbtrust_pve_requests_total counter\n";
  line("henbtrust_pve_requests_total", "", requests.load());
  out += "# TYPE henbtrust_pve_errors_total counter\n";
  line("henbtrust_pve_errors_total", "{class=\"4xx\"}", client_errors.load());
  line("henbtrust_pve_errors_total", "{class=\"5xx\"}", server_errors.load());
  out += "# TYPE henbtrust_pve_appraisals_total counter\n";
  line("henbtrust_pve_appraisals_total", "{status=\"affirming\"}", affirming.load());
  line("henbtrust_pve_appraisals_total", "{status=\"warning\"}", warning.load());
  line("henbtrust_pve_appraisals_total", "{status=\"contraindicated\"}", contraindicated.load());
  out += "# TYPE henbtrust_pve_gateway_decisions_total counter\n";
  line("henbtrust_pve_gateway_decisions_total", "{decision=\"admit\"}", gateway_admits.load());
  line("henbtrust_pve_gateway_decisions_total", "{decision=\"quarantine\"}",
       gateway_refusals.load());
  out += "# TYPE henbtrust_pve_gateway_audit_failures_total counter\n";
  line("henbtrust_pve_gateway_audit_failures_total", "", gateway_audit_failures.load());
  return {200, "text/plain; version=0.0.4", out, {}};
}

}  // namespace henbtrust
