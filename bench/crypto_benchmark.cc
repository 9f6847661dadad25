// Crypto primitives as henbtrust uses them.
#include <benchmark/benchmark.h>

#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/keys.h"

namespace henbtrust {
namespace {

// Streaming SHA-256 over 16 KiB updates (compare: openssl speed -evp sha256 -bytes 16384).
void BM_Sha256Streaming16K(benchmark::State& state) {
  const Bytes block(16384, 0xa5);
  Hasher h(HashAlg::kSha256);
  for (auto _ : state) {
    h.Update(block);
  }
  benchmark::DoNotOptimize(h.Finish());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(block.size()));
}
BENCHMARK(BM_Sha256Streaming16K);

void BM_EcdsaP256VerifyDigest(benchmark::State& state) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  const Bytes digest = Sha256(AsBytes("m"));
  const Bytes sig = *key->SignDigest(SignatureScheme::kEcdsa, HashAlg::kSha256, digest);
  const PublicKey pub = key->Public();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        pub.VerifyDigest(SignatureScheme::kEcdsa, HashAlg::kSha256, digest, sig).ok());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_EcdsaP256VerifyDigest);

// What the PVE pays for each attestation result (ES256) and a device for
// each quote (compare: openssl speed ecdsap256, sign).
void BM_EcdsaP256SignDigest(benchmark::State& state) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  const Bytes digest = Sha256(AsBytes("m"));
  for (auto _ : state) {
    benchmark::DoNotOptimize(key->SignDigest(SignatureScheme::kEcdsa, HashAlg::kSha256, digest));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_EcdsaP256SignDigest);

}  // namespace
}  // namespace henbtrust

BENCHMARK_MAIN();
