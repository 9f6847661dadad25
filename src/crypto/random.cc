#include "henbtrust/crypto/random.h"

#include <openssl/rand.h>

#include <climits>

#include "crypto/ossl.h"

namespace henbtrust {

Result<Bytes> RandomBytes(size_t n) {
  if (n > INT_MAX) return Error(ErrorCode::kInvalidArgument, "random request too large");
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "CSPRNG failed");
  }
  return out;
}

}  // namespace henbtrust
