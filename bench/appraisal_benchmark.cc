// In-process appraisal by the PVE: one signature check and a lookup per
// device whose configuration matches its reference.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>

#include "henbtrust/agent/agent.h"
#include "henbtrust/pve/appraisal.h"
#include "henbtrust/pve/ear.h"
#include "henbtrust/pve/service.h"
#include "henbtrust/tpm/soft_tre.h"

namespace henbtrust {
namespace {

struct Setup {
  ReleaseManifest reference;
  SoftTre tre = *SoftTre::Create();
  DeviceRecord device;
  Bytes nonce = Bytes(32, 9);
  Evidence evidence;

  Setup() {
    reference.release_id = "henb-fw";
    reference.version = "2.0";
    reference.release_counter = 2;
    reference.hardware_models = {"femto-a1"};
    reference.expires_at = 4'000'000'000;
    const std::pair<const char*, uint32_t> comps[] = {
        {"bootloader", 0}, {"kernel", 2}, {"rootfs", 3}, {"femto", 8}};
    for (const auto& [id, pcr] : comps) {
      reference.components.push_back({id, "2.0", 1, Sha256(AsBytes(id)), pcr});
      (void)tre.MeasureComponent(pcr, {id, "2.0"}, Sha256(AsBytes(id)));
    }
    device = DeviceRecord{"henb-1",
                          "femto-a1",
                          tre.EkPublic(),
                          {},
                          tre.AkPublic(),
                          reference.release_id,
                          "2.0",
                          "enrolled",
                          0,
                          0,
                          0,
                          ""};
    auto q = tre.MakeQuote(nonce, {PlanSelection(reference)});
    evidence = Evidence{q->attest, q->signature, tre.event_log().Serialize()};
  }
};

// Compare: openssl speed ecdsap256 (verify).
void BM_Appraise(benchmark::State& state) {
  Setup s;
  Appraiser appraiser;
  for (auto _ : state) {
    auto r = appraiser.Appraise(s.device, s.reference, false, s.evidence, s.nonce, 0);
    if (!r.ok() || r->status != ArStatus::kAffirming)
      state.SkipWithError("appraisal did not affirm");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Appraise);

// The same, plus the signed EAR result (one ECDSA signature more).
void BM_AppraiseAndSignEar(benchmark::State& state) {
  Setup s;
  Appraiser appraiser;
  const PrivateKey key = *PrivateKey::Generate(KeyType::kEcP256);
  for (auto _ : state) {
    auto r = appraiser.Appraise(s.device, s.reference, false, s.evidence, s.nonce, 0);
    benchmark::DoNotOptimize(EncodeEar(*r, key, "bench"));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_AppraiseAndSignEar);

// A whole push appraisal through the PVE's request handler on SQLite, without
// the network: nonce request, evidence (quote made outside the timing), JSON,
// store writes, signed result.
void BM_ServicePushAppraisal(benchmark::State& state) {
  Setup s;
  const std::string dir =
      std::filesystem::temp_directory_path() / ("henb-bench-service-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = *OpenSqliteStore(dir + "/pve.db");
  (void)store->PutManifest(
      {s.reference.release_id, s.reference.version, *EncodeManifest(s.reference), ""});
  if (auto st = store->PutDevice(s.device); !st.ok())
    state.SkipWithError(st.error().ToString().c_str());
  const PrivateKey key = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateSpec spec;
  spec.common_name = "CA";
  spec.is_ca = true;
  const Certificate ca = *IssueCertificate(spec, key.Public(), key, nullptr);
  PveService service(*store, PveConfig{.client_ca = ca, .client_ca_key = key, .ear_key = key});
  HttpRequest nonce_req{"POST", "/v1/nonces", "application/json", "", "{}", {}};
  nonce_req.peer = {true, true, "", s.device.device_id, std::string(kRoleDevice), {}};
  HttpRequest evidence_req = nonce_req;
  evidence_req.target = "/v1/evidence";
  for (auto _ : state) {
    HttpResponse n = service.Handle(nonce_req);
    state.PauseTiming();
    const auto j = nlohmann::json::parse(n.body);
    if (n.status != 200) {
      state.SkipWithError(n.body.c_str());
      break;
    }
    evidence_req.body = *EvidenceJson(s.tre, *Base64Decode(j["nonce"].get<std::string>()),
                                      {PlanSelection(s.reference)});
    state.ResumeTiming();
    HttpResponse r = service.Handle(evidence_req);
    if (r.status != 200) state.SkipWithError(r.body.c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  std::filesystem::remove_all(dir);
}
// The store commits on its own thread: the CPU time is the whole process's.
BENCHMARK(BM_ServicePushAppraisal)->MeasureProcessCPUTime();

}  // namespace
}  // namespace henbtrust

BENCHMARK_MAIN();
