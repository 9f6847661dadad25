// In-process appraisal by the PVE: one signature check and a lookup per
// device whose configuration matches its reference.
#include <benchmark/benchmark.h>

#include "henbtrust/pve/appraisal.h"
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

}  // namespace
}  // namespace henbtrust

BENCHMARK_MAIN();
