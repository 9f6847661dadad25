// Fuzzes TPM2B_PUBLIC parsing (public area to key, object name).
#include <cstddef>
#include <cstdint>

#include "henbtrust/tpm/quote_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace henbtrust;
  const ByteView in(data, size);
  auto pub = ParseTpmPublic(in);
  if (pub.ok()) (void)pub->key.ToDer();
  (void)QuoteVerifier::FromAnyEncoding(in);
  return 0;
}
