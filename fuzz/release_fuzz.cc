// Fuzzes the release parsers: manifest, signature block, trust root.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "henbtrust/release/manifest.h"
#include "henbtrust/release/trust.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace henbtrust;
  const ByteView in(data, size);
  auto m = ParseManifest(in);
  if (m.ok()) {
    // The encoding is canonical: what parses re-encodes to the same bytes.
    auto again = EncodeManifest(*m);
    if (!again.ok() || !Equal(*again, in)) std::abort();
    (void)ExpectedTim(*m);
  }
  auto sigs = ParseSignatures(in);
  if (sigs.ok() && !Equal(EncodeSignatures(*sigs), in)) std::abort();
  (void)TrustRoot::ParseSelfSigned(in);
  return 0;
}
