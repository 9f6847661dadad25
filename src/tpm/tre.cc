#include "henbtrust/tpm/tre.h"

namespace henbtrust {

Status Tre::MeasureComponent(uint32_t pcr, const ComponentRef& component, ByteView sha256_digest) {
  if (sha256_digest.size() != DigestSize(HashAlg::kSha256)) {
    return Error(ErrorCode::kInvalidArgument, "component digest must be SHA-256");
  }
  for (HashAlg bank : Banks()) {
    if (bank != HashAlg::kSha256) {
      return Error(ErrorCode::kTpmUnsupported, "components are measured into the sha256 bank only");
    }
  }
  HENB_ASSIGN_OR_RETURN(Event e,
                        MakeComponentEvent(pcr, component,
                                           {{static_cast<uint16_t>(HashAlg::kSha256),
                                             Bytes(sha256_digest.begin(), sha256_digest.end())}}));
  return Extend(std::move(e));
}

}  // namespace henbtrust
