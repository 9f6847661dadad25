#include "henbtrust/crypto/digest.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

namespace {

void PutU64(Hasher& h, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
  h.Update(ByteView(b, 8));
}

void PutText(Hasher& h, const std::string& s) {
  PutU64(h, s.size());
  h.Update(AsBytes(s));
}

}  // namespace

Bytes AuditHash(ByteView prev_hash, const AuditEntry& e) {
  Hasher h(HashAlg::kSha256);
  h.Update(prev_hash);
  PutU64(h, static_cast<uint64_t>(e.seq));
  PutU64(h, static_cast<uint64_t>(e.at));
  PutText(h, e.actor);
  PutText(h, e.subject);
  PutText(h, e.event);
  PutText(h, e.detail);
  return h.Finish();
}

Result<int64_t> VerifyAuditChain(Store& store) {
  Bytes prev(32, 0);
  int64_t seq = 0;
  for (;;) {
    HENB_ASSIGN_OR_RETURN(std::vector<AuditEntry> page, store.ListAudit(seq, 1000));
    if (page.empty()) return seq;
    for (const AuditEntry& e : page) {
      const std::string where = "audit entry " + std::to_string(e.seq);
      if (e.seq != seq + 1) {
        return Error(ErrorCode::kStoreAuditBroken,
                     where + " follows entry " + std::to_string(seq) + ": entries are missing");
      }
      if (e.prev_hash != prev) {
        return Error(ErrorCode::kStoreAuditBroken,
                     where + " does not name the previous entry's hash");
      }
      if (AuditHash(prev, e) != e.hash) {
        return Error(ErrorCode::kStoreAuditBroken, where + " was changed after it was written");
      }
      prev = e.hash;
      seq = e.seq;
    }
  }
}

}  // namespace henbtrust
