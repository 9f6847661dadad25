#include "pve/service_impl.h"

#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/random.h"

namespace henbtrust {

namespace {

using namespace api;

constexpr size_t kNonceBytes = 32;
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

}  // namespace

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
  const int64_t ms_of_second = config.env->NowUnixMillis() % 1000;
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

Result<NonceAnswer> PveService::Impl::NextNonce(const DeviceRecord& device,
                                                const Reference& reference) {
  HENB_ASSIGN_OR_RETURN(auto nonce, NewNonce(device.device_id));
  return NonceAnswer{std::move(nonce.first), nonce.second, reference.pcr_selection};
}

Result<HttpResponse> PveService::Impl::IssueNonce(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadCaller(req));
  HENB_ASSIGN_OR_RETURN(auto ref, LoadReference(device));
  HENB_ASSIGN_OR_RETURN(NonceAnswer nonce, NextNonce(device, *ref));
  return api::JsonText(200, EncodeNonceAnswer(nonce));
}

}  // namespace henbtrust
