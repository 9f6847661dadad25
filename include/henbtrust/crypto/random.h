// Randomness from the OpenSSL CSPRNG, and an injectable nonce source.
#pragma once

#include "henbtrust/core/bytes.h"

namespace henbtrust {

// Cryptographically secure random bytes. kCryptoFailure if the CSPRNG fails.
Result<Bytes> RandomBytes(size_t n);

// Source of verifier nonces. Thread-safe implementations only.
class NonceSource {
 public:
  virtual ~NonceSource() = default;
  virtual Result<Bytes> Next(size_t size = 32) = 0;
};

// The production source: the CSPRNG.
class CsprngNonceSource final : public NonceSource {
 public:
  Result<Bytes> Next(size_t size = 32) override { return RandomBytes(size); }
};

}  // namespace henbtrust
