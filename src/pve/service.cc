#include "henbtrust/pve/service.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>

#include "henbtrust/core/file.h"
#include "henbtrust/core/json_text.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/router.h"
#include "henbtrust/net/worker_pool.h"
#include "henbtrust/release/manifest.h"
#include "henbtrust/tpm/structures.h"
#include "pve/enrollment.h"

namespace henbtrust {

namespace {

using Json = nlohmann::json;
using namespace api;

constexpr size_t kMaxTpmStructure = 4096;
constexpr size_t kMaxEventLog = 512 * 1024;
constexpr size_t kNonceBytes = 32;
// Revocations reach every instance within this time.
constexpr auto kManifestCacheTtl = std::chrono::seconds(1);

// A nonce: its expiry in milliseconds (u64, big-endian) || 12 random bytes
// || the first 12 bytes of HMAC-SHA-256(key, label || device id || 0 ||
// expiry || random). Expiry first, so that nonces sort by the time they were
// issued: a store's spent nonces then grow at one end of their index
// instead of at a random page of it. 32 bytes, the qualifying data any
// TPM 2.0 takes (TPM2B_DATA of a SHA-256-only TPM).
constexpr size_t kNonceRandom = 12, kNonceTag = 12;
static_assert(8 + kNonceRandom + kNonceTag == kNonceBytes);

// The random part of a nonce, from OpenSSL's DRBG drawn 384 bytes at a time
// per thread: a draw costs about as much as a nonce's HMAC whatever its size.
// (Whoever could read this buffer could read the nonce key too; and the PVE
// does not fork, so no two processes hand out the same bytes.)
Result<Bytes> NonceRandom() {
  constexpr size_t kBlock = 32 * kNonceRandom;
  thread_local Bytes pool;
  thread_local size_t used = 0;
  if (used == pool.size()) {
    HENB_ASSIGN_OR_RETURN(pool, RandomBytes(kBlock));
    used = 0;
  }
  const auto from = pool.begin() + static_cast<ptrdiff_t>(used);
  used += kNonceRandom;
  return Bytes(from, from + static_cast<ptrdiff_t>(kNonceRandom));
}

Bytes NonceTag(ByteView key, const std::string& device_id, ByteView expiry_and_random) {
  Bytes input = ToBytes("henbtrust nonce v2");
  input.push_back(0);
  Append(input, AsBytes(device_id));
  input.push_back(0);
  Append(input, expiry_and_random);
  Bytes tag = Hmac(HashAlg::kSha256, key, input);
  tag.resize(kNonceTag);
  return tag;
}

// {"expires_at":..,"nonce":"..","pcr_selection":".."}: a nonce for the
// device's next push, alone (POST /v1/nonces) or inside a push's answer.
std::string NonceText(const std::pair<Bytes, int64_t>& nonce, const std::string& selection) {
  std::string out;
  out.reserve(96 + selection.size());
  JsonObjectWriter n(out);
  n.Int("expires_at", nonce.second)
      .String("nonce", Base64Encode(nonce.first))
      .String("pcr_selection", selection)
      .Close();
  return out;
}

// An appraisal's answer as JSON text, but for the appraisal id, which only
// the store's commit gives: it goes at `id_at`. The members are in nlohmann's
// (sorted) order, so that the answer reads as it always has.
struct AnswerText {
  std::string text;
  size_t id_at = 0;

  std::string With(int64_t id) const {
    const std::string number = std::to_string(id);
    std::string out;
    out.reserve(text.size() + number.size());
    out.append(text, 0, id_at).append(number).append(text, id_at);
    return out;
  }
};

Result<AnswerText> ResultText(const AppraisalResult& r, const std::string& token,
                              const std::string& next_nonce) {
  AnswerText a;
  std::string& t = a.text;
  t.reserve(token.size() + next_nonce.size() + 512 + 96 * r.components.size());
  JsonObjectWriter out(t);
  out.Key("appraisal_id");
  a.id_at = t.size();
  out.String("attestation_result", token).Key("components");
  t += '[';
  for (size_t i = 0; i < r.components.size(); ++i) {
    const auto& c = r.components[i];
    if (i > 0) t += ',';
    JsonObjectWriter v(t);
    if (!c.detail.empty()) v.String("detail", c.detail);
    v.String("id", c.id).String("status", ArStatusName(c.status)).String("version", c.version);
    v.Close();
    if (!v.ok()) return Error(ErrorCode::kInternal, "component text is not UTF-8");
  }
  t += ']';
  if (!r.detail.empty()) out.String("detail", r.detail);
  out.String("device_id", r.device_id);
  if (r.evidence_error) {
    // The evidence did not verify: a client error, with the signed result kept.
    out.Key("error");
    JsonObjectWriter e(t);
    e.String("code", ErrorCodeName(*r.evidence_error)).String("message", r.detail).Close();
    if (!e.ok()) return Error(ErrorCode::kInternal, "result text is not UTF-8");
  }
  if (!next_nonce.empty()) {
    out.Key("next_nonce");
    t += next_nonce;
  }
  out.String("release", r.release_version).String("status", ArStatusName(r.status));
  out.Key("submods");
  {
    JsonObjectWriter submods(t);
    for (const auto& [name, status] : r.submodules) submods.String(name, ArStatusName(status));
    submods.Close();
    if (!submods.ok()) return Error(ErrorCode::kInternal, "submodule name is not UTF-8");
  }
  out.String("tim", HexEncode(r.tim)).Close();
  if (!out.ok()) return Error(ErrorCode::kInternal, "result text is not UTF-8");
  return a;
}

// The value of `name` in the target's query ("/x?a=1&name=v" -> "v"), or "".
std::string QueryValue(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

// Who asked, for the audit log: "operator:<CN>", or the OAM's own calls.
std::string Actor(const PeerIdentity& peer) {
  return (peer.organization == kRoleOperator ? "operator:" : "peer:") + peer.common_name;
}

}  // namespace

struct PveService::Impl {
  Impl(Store& s, PveConfig c) : store(s), config(std::move(c)), appraiser(config.policy_id) {
    if (!config.now) config.now = UnixSeconds;
    if (config.nonce_key.empty()) config.nonce_key = RandomBytes(32).value();
    ca_pem = config.client_ca.ToPem();
  }

  // An appraisal made, ready for the store: its record, and its answer but
  // for the id the record gets.
  struct Prepared {
    int status = 200;  // or 422 when the evidence did not verify (the signed result is kept)
    ArStatus verdict = ArStatus::kContraindicated;
    AppraisalRecord record;
    AnswerText answer;
  };

  std::vector<Route> Routes();
  // POST /v1/evidence: appraises, and answers once the store has recorded
  // the result (on the store's thread).
  void RecordPush(const HttpRequest& req, HttpResponder respond);
  Result<HttpResponse> RevokeDevice(const HttpRequest& req, const std::string& device_id);
  Result<HttpResponse> IssueNonce(const HttpRequest& req);
  Result<Prepared> PushEvidence(const HttpRequest& req);
  Result<HttpResponse> PullAppraisal(const std::string& device_id);
  Result<HttpResponse> UpdateAppraisal(const HttpRequest& req, const std::string& device_id);
  Result<HttpResponse> SetConfiguration(const HttpRequest& req, const std::string& device_id);
  Result<HttpResponse> LatestResult(const std::string& device_id);
  // `presented_serial`: the serial of the certificate the SeGW saw, if it
  // says; a certificate that no longer speaks for the device quarantines.
  Result<HttpResponse> AccessDecision(const std::string& device_id,
                                      const std::string& presented_serial);
  Result<HttpResponse> Revoke(const HttpRequest& req, const std::string& release_id,
                              const std::string& version);
  Result<HttpResponse> DeviceInfo(const std::string& device_id);
  HttpResponse Metrics() const;

  Result<DeviceRecord> LoadDevice(const std::string& device_id);
  // The record of the device that sent `req` with its certificate, if that
  // certificate is the device's current one and the device is not revoked;
  // kNetUnauthenticated otherwise.
  Result<DeviceRecord> LoadCaller(const HttpRequest& req);
  EnrollmentService Enrolling() { return {store, config, ca_pem}; }
  struct Reference {
    ReleaseManifest manifest;
    bool revoked = false;
    std::string pcr_selection;  // FormatPcrSelection of the manifest's plan
  };
  // Shared and immutable: the hot path copies no manifest.
  Result<std::shared_ptr<const Reference>> LoadReference(const DeviceRecord& device);
  Result<std::pair<Bytes, int64_t>> NewNonce(const std::string& device_id);
  // The expiry of a nonce this PVE issued to `device_id`, if it is one and
  // has not expired; kPolicyNonce otherwise.
  Result<int64_t> CheckNonce(const std::string& device_id, ByteView nonce, int64_t now) const;
  // The nonce must be one the PVE issued to this device, unused and unexpired,
  // unless `nonce_checked` (the OAM's order nonce, step 9). With
  // `offer_next_nonce`, the answer carries the device's next nonce.
  Result<Prepared> Appraise(const DeviceRecord& device, const Evidence& evidence, ByteView nonce,
                            bool nonce_checked, bool offer_next_nonce);
  // The answer once the store recorded (or refused) the appraisal.
  HttpResponse Answer(const Prepared& p, const Result<int64_t>& id);
  Result<HttpResponse> AppraiseAndRecord(const DeviceRecord& device, const Evidence& evidence,
                                         ByteView nonce, bool nonce_checked = false);
  // {nonce, expires_at, pcr_selection} for the device's next push.
  Result<std::string> NextNonce(const DeviceRecord& device, const Reference& reference);
  void Count(const HttpResponse& response);
  Result<Evidence> EvidenceFrom(const Json& body, Bytes* nonce);
  void MaybePurge(int64_t now);

  Store& store;
  PveConfig config;
  Appraiser appraiser;
  std::string ca_pem;

  std::mutex cache_mu;
  struct CachedReference {
    std::shared_ptr<const Reference> reference;
    std::chrono::steady_clock::time_point fetched;
  };
  std::map<std::pair<std::string, std::string>, CachedReference> references;

  std::atomic<int64_t> last_purge{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> affirming{0}, warning{0}, contraindicated{0};
  std::atomic<uint64_t> client_errors{0}, server_errors{0};

  // Pushes whose record the store has not committed yet: the service
  // outlives them (~Impl waits).
  std::mutex pending_mu;
  std::condition_variable pending_cv;
  int pushes_pending = 0;  // guarded by pending_mu

  const Router router{Routes()};

  // Requests that may block; last, so that it finishes its work (and joins)
  // before anything that work uses goes.
  WorkerPool blocking{config.blocking_threads};

  // Whether the calling thread answers `req` (HandleAsync): health and
  // metrics; a device's push and nonce request, the hot path, when the store
  // is local (its reads wait on no other process, its commits on no thread
  // of ours). On a database server they are round trips: to the pool.
  bool AnswersOnCaller(const HttpRequest& req) const {
    const std::string_view t = req.target;
    if (t == "/healthz" || t == "/metrics") return true;
    return store.Local() && (t == "/v1/evidence" || t == "/v1/nonces");
  }
  void HandleNow(const HttpRequest& request, HttpResponder respond);

  ~Impl() {
    std::unique_lock<std::mutex> lock(pending_mu);
    pending_cv.wait(lock, [this] { return pushes_pending == 0; });
  }
};

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

void PveService::Impl::HandleNow(const HttpRequest& request, HttpResponder respond) {
  requests.fetch_add(1, std::memory_order_relaxed);
  router.Dispatch(request, [this, respond = std::move(respond)](HttpResponse response) {
    Count(response);
    respond(std::move(response));
  });
}

void PveService::Impl::RecordPush(const HttpRequest& req, HttpResponder respond) {
  Result<Prepared> push = PushEvidence(req);
  if (!push.ok()) return respond(ErrorResponse(push.error()));
  {
    std::lock_guard<std::mutex> lock(pending_mu);
    ++pushes_pending;
  }
  AppraisalRecord record = std::move(push->record);
  store.RecordAppraisalAsync(std::move(record), [this, p = std::move(push).value(),
                                                 respond = std::move(respond)](Result<int64_t> id) {
    respond(Answer(p, id));
    std::lock_guard<std::mutex> lock(pending_mu);
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
       [&s](const HttpRequest& req, const Path& path) {
         return s.AccessDecision(path[2], QueryValue(req.target, "certificate_serial"));
       }},
      {"POST",
       "/v1/devices/*/revocation",
       {kRoleOperator},
       [&s](const HttpRequest& req, const Path& path) { return s.RevokeDevice(req, path[2]); }},
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
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(cache_mu);
    auto it = references.find(key);
    if (it != references.end() && now - it->second.fetched < kManifestCacheTtl)
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
  std::lock_guard<std::mutex> lock(cache_mu);
  references[key] = {ref, now};
  return ref;
}

void PveService::Impl::MaybePurge(int64_t now) {
  int64_t last = last_purge.load();
  if (now - last < 60 || !last_purge.compare_exchange_strong(last, now)) return;
  (void)store.PurgeSpentNonces(now);
}

Result<std::pair<Bytes, int64_t>> PveService::Impl::NewNonce(const std::string& device_id) {
  const int64_t now = config.now();
  MaybePurge(now);
  const int64_t expires_at = now + config.nonce_ttl;
  // Whole seconds come from the service's clock (which tests set); the
  // milliseconds only order nonces issued within one second.
  const auto ms_of_second = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count() %
                            1000;
  Bytes nonce;
  nonce.reserve(kNonceBytes);
  PutU64Be(nonce, static_cast<uint64_t>(expires_at * 1000 + ms_of_second));
  HENB_ASSIGN_OR_RETURN(Bytes random, NonceRandom());
  Append(nonce, random);
  Append(nonce, NonceTag(config.nonce_key, device_id, nonce));
  return std::make_pair(std::move(nonce), expires_at);
}

Result<int64_t> PveService::Impl::CheckNonce(const std::string& device_id, ByteView nonce,
                                             int64_t now) const {
  const Error refused(ErrorCode::kPolicyNonce,
                      "nonce not issued to " + device_id + ", already used, or expired");
  if (nonce.size() != kNonceBytes) return refused;
  const ByteView body = nonce.first(8 + kNonceRandom);
  if (!ConstantTimeEqual(NonceTag(config.nonce_key, device_id, body),
                         nonce.subspan(8 + kNonceRandom)))
    return refused;
  uint64_t expiry_ms = 0;
  for (size_t i = 0; i < 8; ++i) expiry_ms = (expiry_ms << 8) | nonce[i];
  const auto expires_at = static_cast<int64_t>(expiry_ms / 1000);
  if (expires_at <= now) return refused;
  return expires_at;
}

// --- appraisal (docs/design.md section 3, steps 2 to 4) ---------------------

Result<std::string> PveService::Impl::NextNonce(const DeviceRecord& device,
                                                const Reference& reference) {
  HENB_ASSIGN_OR_RETURN(auto nonce, NewNonce(device.device_id));
  return NonceText(nonce, reference.pcr_selection);
}

Result<HttpResponse> PveService::Impl::IssueNonce(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadCaller(req));
  HENB_ASSIGN_OR_RETURN(auto ref, LoadReference(device));
  HENB_ASSIGN_OR_RETURN(std::string nonce, NextNonce(device, *ref));
  return HttpResponse{200, "application/json", std::move(nonce), {}};
}

Result<Evidence> PveService::Impl::EvidenceFrom(const Json& body, Bytes* nonce) {
  Evidence e;
  HENB_ASSIGN_OR_RETURN(*nonce, Base64Field(body, "nonce", 64));
  HENB_ASSIGN_OR_RETURN(e.attest, Base64Field(body, "attest", kMaxTpmStructure));
  HENB_ASSIGN_OR_RETURN(e.signature, Base64Field(body, "signature", kMaxTpmStructure));
  HENB_ASSIGN_OR_RETURN(e.event_log, Base64Field(body, "event_log", kMaxEventLog, false));
  return e;
}

Result<PveService::Impl::Prepared> PveService::Impl::PushEvidence(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(std::string claimed, TextField(body, "device_id", 64, false));
  if (!claimed.empty() && claimed != req.peer.common_name) {
    return Error(
        ErrorCode::kNetForbidden,
        "evidence for " + claimed + " sent with the certificate of " + req.peer.common_name);
  }
  Bytes nonce;
  HENB_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFrom(body, &nonce));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadCaller(req));
  // The nonce for the device's next push comes with this result, so that a
  // device attesting again within the nonce lifetime needs one request, not
  // two (the nonce is the same as one from POST /v1/nonces).
  return Appraise(device, evidence, nonce, /*nonce_checked=*/false, /*offer_next_nonce=*/true);
}

Result<HttpResponse> PveService::Impl::PullAppraisal(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  if (device.agent_address.empty()) {
    return Error(ErrorCode::kPolicy,
                 "device " + device_id + " registered no agent address: it can only push");
  }
  HENB_ASSIGN_OR_RETURN(auto ref, LoadReference(device));
  HENB_ASSIGN_OR_RETURN(auto hp, ParseHostPort(device.agent_address));
  HENB_ASSIGN_OR_RETURN(auto nonce, NewNonce(device_id));
  HttpClientOptions options;
  options.timeout = config.agent_timeout;
  options.peer_uri = DeviceUri(device_id);
  options.peer_serial = device.certificate_serial;  // empty for records older than serials
  options.max_response_bytes = 2 * kMaxEventLog;
  TlsConfig tls = config.agent_tls;
  tls.peer_ca = ca_pem;
  auto client = HttpClient::Connect(hp.first, hp.second, tls, options);
  if (!client.ok()) return client.error().WithContext("device agent of " + device_id);
  const Json request = {{"nonce", Base64Encode(nonce.first)},
                        {"pcr_selection", ref->pcr_selection}};
  HENB_ASSIGN_OR_RETURN(
      HttpResponse answer,
      (*client)->Request("POST", "/v1/integrity-request", "application/json", request.dump()));
  if (answer.status != 200) {
    return Error(ErrorCode::kNetStatus, "device agent of " + device_id + " answered " +
                                            std::to_string(answer.status) + ": " +
                                            answer.body.substr(0, 200));
  }
  Json body = api::ParseUntrustedJson(answer.body);
  if (!body.is_object()) {
    return Error(ErrorCode::kNetStatus,
                 "device agent of " + device_id + " answered with something that is not JSON");
  }
  Bytes echoed;
  HENB_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFrom(body, &echoed));
  // The quote must carry the nonce the PVE sent, whatever the agent echoes.
  return AppraiseAndRecord(device, evidence, nonce.first);
}

// Step 9: the OAM has the PVE verify a device's completion quote, made with
// the nonce of the OAM's order, against the target release. The OAM keeps
// the order nonce single use (one completion report per order), so the PVE
// does not spend it: asking twice (after an OAM restart) gives the same answer.
Result<HttpResponse> PveService::Impl::UpdateAppraisal(const HttpRequest& req,
                                                       const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(device.release_id, TextField(body, "release_id", 128));
  HENB_ASSIGN_OR_RETURN(device.release_version, TextField(body, "version", 64));
  Bytes nonce;
  HENB_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFrom(body, &nonce));
  if (nonce.size() < 16) return BadRequest("an order nonce has at least 16 bytes");
  return AppraiseAndRecord(device, evidence, nonce, true);
}

// The OAM's commit (step 9): the device's recorded configuration becomes the
// target release, which later appraisals compare against.
Result<HttpResponse> PveService::Impl::SetConfiguration(const HttpRequest& req,
                                                        const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(std::string release_id, TextField(body, "release_id", 128));
  HENB_ASSIGN_OR_RETURN(std::string version, TextField(body, "version", 64));
  HENB_ASSIGN_OR_RETURN(auto manifest, store.GetManifest(release_id, version));
  if (!manifest) {
    return Error(ErrorCode::kPolicyUnknownRelease, "no release " + release_id + " " + version);
  }
  const int64_t now = config.now();
  HENB_TRY(store.SetDeviceRelease(
      device.device_id, release_id, version, now,
      AuditEntry{0,
                 now,
                 Actor(req.peer),
                 "device:" + device_id,
                 "reference configuration set",
                 device_id + ": " + device.release_id + " " + device.release_version + " -> " +
                     release_id + " " + version,
                 {},
                 {}}));
  return JsonResponse(200,
                      {{"device_id", device_id}, {"release_id", release_id}, {"version", version}});
}

Result<PveService::Impl::Prepared> PveService::Impl::Appraise(const DeviceRecord& device,
                                                              const Evidence& evidence,
                                                              ByteView nonce, bool nonce_checked,
                                                              bool offer_next_nonce) {
  const int64_t now = config.now();
  int64_t nonce_expires_at = 0;
  if (!nonce_checked) {
    HENB_ASSIGN_OR_RETURN(nonce_expires_at, CheckNonce(device.device_id, nonce, now));
  }
  HENB_ASSIGN_OR_RETURN(auto ref, LoadReference(device));
  HENB_ASSIGN_OR_RETURN(AppraisalResult r, appraiser.Appraise(device, ref->manifest, ref->revoked,
                                                              evidence, nonce, now));
  HENB_ASSIGN_OR_RETURN(std::string token, EncodeEar(r, config.ear_key, config.verifier_id));
  std::string next_nonce;
  if (offer_next_nonce) {
    HENB_ASSIGN_OR_RETURN(next_nonce, NextNonce(device, *ref));
  }
  Prepared p;
  HENB_ASSIGN_OR_RETURN(p.answer, ResultText(r, token, next_nonce));
  p.status = r.evidence_error ? 422 : 200;
  p.verdict = r.status;
  p.record = {0, device.device_id, std::string(ArStatusName(r.status)), std::move(token), now};
  // Spent together with the record: of two instances racing with one
  // nonce, exactly one records a result.
  if (!nonce_checked) p.record.spent_nonce.assign(nonce.begin(), nonce.end());
  p.record.nonce_expires_at = nonce_expires_at;
  if (!r.evidence_error) {
    p.record.advance_clock = true;
    p.record.reset_count = r.clock.reset_count;
    p.record.clock = r.clock.clock;
  }
  return p;
}

HttpResponse PveService::Impl::Answer(const Prepared& p, const Result<int64_t>& id) {
  if (!id.ok()) return ErrorResponse(id.error());
  switch (p.verdict) {
    case ArStatus::kAffirming:
      affirming.fetch_add(1, std::memory_order_relaxed);
      break;
    case ArStatus::kWarning:
      warning.fetch_add(1, std::memory_order_relaxed);
      break;
    case ArStatus::kContraindicated:
      contraindicated.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  return {p.status, "application/json", p.answer.With(*id), {}};
}

Result<HttpResponse> PveService::Impl::AppraiseAndRecord(const DeviceRecord& device,
                                                         const Evidence& evidence, ByteView nonce,
                                                         bool nonce_checked) {
  HENB_ASSIGN_OR_RETURN(Prepared p, Appraise(device, evidence, nonce, nonce_checked, false));
  return Answer(p, store.RecordAppraisal(p.record));
}

// --- results ----------------------------------------------------------------

Result<HttpResponse> PveService::Impl::LatestResult(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(auto latest, store.LatestAppraisal(device.device_id));
  if (!latest) return Error(ErrorCode::kNotFound, "device " + device_id + " was never appraised");
  return JsonResponse(200, {{"device_id", device_id},
                            {"appraisal_id", latest->id},
                            {"status", latest->status},
                            {"appraised_at", latest->created_at},
                            {"attestation_result", latest->result}});
}

Result<HttpResponse> PveService::Impl::AccessDecision(const std::string& device_id,
                                                      const std::string& presented_serial) {
  if (!IsValidDeviceId(device_id)) return BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(device_id));
  const int64_t now = config.now();
  std::string reason;
  Json out = {{"device_id", device_id}};
  if (device) out["certificate_serial"] = device->certificate_serial;
  if (!device) {
    reason = "not enrolled";
  } else if (device->state != "enrolled") {
    reason = "device state is " + device->state;
  } else if (!presented_serial.empty() && !CheckDeviceCertificate(*device, presented_serial).ok()) {
    reason = "certificate " + presented_serial + " no longer speaks for the device";
  } else {
    HENB_ASSIGN_OR_RETURN(auto latest, store.LatestAppraisal(device_id));
    if (!latest) {
      reason = "never appraised";
    } else {
      out["status"] = latest->status;
      out["appraised_at"] = latest->created_at;
      out["appraisal_id"] = latest->id;
      if (latest->status != "affirming") {
        reason = "latest attestation result is " + latest->status;
      } else if (now - latest->created_at > config.result_max_age) {
        reason = "latest attestation result is older than " +
                 std::to_string(config.result_max_age) + " s";
      }
    }
  }
  out["decision"] = reason.empty() ? "admit" : "quarantine";
  out["reason"] = reason.empty() ? "affirming attestation result" : reason;
  return JsonResponse(200, out);
}

Result<HttpResponse> PveService::Impl::DeviceInfo(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord d, LoadDevice(device_id));
  auto ak_name = TpmObjectName(d.ak_public);
  return JsonResponse(200, {{"device_id", d.device_id},
                            {"hardware_model", d.hardware_model},
                            {"release_id", d.release_id},
                            {"release_version", d.release_version},
                            {"state", d.state},
                            {"agent_address", d.agent_address},
                            {"reset_count", d.reset_count},
                            {"clock", d.clock},
                            {"ak_name", ak_name.ok() ? HexEncode(*ak_name) : std::string()},
                            {"certificate_serial", d.certificate_serial},
                            {"updated_at", d.updated_at}});
}

Result<HttpResponse> PveService::Impl::Revoke(const HttpRequest& req, const std::string& release_id,
                                              const std::string& version) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(std::string reason, TextField(body, "reason", 1024));
  if (reason.empty()) return BadRequest("a revocation needs a reason");
  const int64_t now = config.now();
  if (auto st = store.RevokeRelease(release_id, version, reason,
                                    AuditEntry{0,
                                               now,
                                               Actor(req.peer),
                                               "release:" + release_id + "/" + version,
                                               "release revoked",
                                               reason,
                                               {},
                                               {}});
      !st.ok()) {
    if (st.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kPolicyUnknownRelease, st.error().message());
    }
    return st.error();
  }
  std::lock_guard<std::mutex> lock(cache_mu);
  references.erase({release_id, version});
  return JsonResponse(200, {{"release_id", release_id}, {"version", version}, {"revoked", reason}});
}

Result<HttpResponse> PveService::Impl::RevokeDevice(const HttpRequest& req,
                                                    const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(std::string reason, TextField(body, "reason", 1024));
  if (reason.empty()) return BadRequest("a revocation needs a reason");
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  const int64_t now = config.now();
  const std::string& serial = device.certificate_serial;
  auto revoked =
      store.RevokeDevice(device_id, now,
                         AuditEntry{0,
                                    now,
                                    Actor(req.peer),
                                    "device:" + device_id,
                                    "device revoked",
                                    device_id + ": certificate " + (serial.empty() ? "?" : serial) +
                                        " revoked: " + reason,
                                    {},
                                    {}});
  if (!revoked.ok()) {
    if (revoked.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kPolicyUnknownDevice, revoked.error().message());
    }
    return revoked.error();
  }
  return JsonResponse(200,
                      {{"device_id", device_id}, {"state", kDeviceRevoked}, {"revoked", reason}});
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
  return {200, "text/plain; version=0.0.4", out, {}};
}

}  // namespace henbtrust
