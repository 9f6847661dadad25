// Fuzzes TPMS_ATTEST parsing and the full quote verification path.
#include <cstddef>
#include <cstdint>

#include "henbtrust/tpm/quote_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace henbtrust;
  const ByteView in(data, size);
  auto info = ParseQuoteAttest(in);
  if (info.ok()) {
    auto again = MarshalQuoteAttest(*info);
    if (again.ok()) (void)ParseQuoteAttest(*again);
  }
  // Split the input into a quote and a signature and verify against a fixed key.
  static const PublicKey key = PrivateKey::Generate(KeyType::kEcP256)->Public();
  const size_t cut = size / 2;
  QuoteExpectations expect;
  expect.nonce = Bytes(32, 0);
  expect.pcr_values = Bytes(in.begin(), in.end());
  (void)QuoteVerifier(key).Verify(in.first(cut), in.subspan(cut), expect);
  return 0;
}
