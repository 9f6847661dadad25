// Fuzzes TPMT_SIGNATURE parsing and its conversion for verification.
#include <cstddef>
#include <cstdint>

#include "henbtrust/tpm/structures.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace henbtrust;
  auto sig = ParseTpmSignature(ByteView(data, size));
  if (sig.ok()) {
    (void)SignatureForVerify(*sig);
    (void)MarshalTpmSignature(*sig);
  }
  return 0;
}
