#include "henbtrust/eventlog/replay.h"

#include <cstring>

namespace henbtrust {

namespace {

constexpr char kStartupLocality[] = "StartupLocality";  // 16 bytes with the NUL

// Locality from a StartupLocality EV_NO_ACTION event, if `e` is one.
std::optional<uint8_t> StartupLocality(const Event& e) {
  if (e.type != event_type::kNoAction || e.pcr != 0 || e.data.size() != 17 ||
      std::memcmp(e.data.data(), kStartupLocality, 16) != 0) {
    return std::nullopt;
  }
  return e.data[16];
}

void Extend(HashAlg alg, Bytes& pcr, ByteView digest) {
  Hasher h(alg);
  h.Update(pcr);
  h.Update(digest);
  h.FinishInto(pcr.data());
}

}  // namespace

Bytes PcrResetValue(uint32_t pcr, HashAlg alg) {
  return Bytes(DigestSize(alg), (pcr >= 17 && pcr <= 22) ? 0xff : 0x00);
}

Result<PcrValues> Replay(const EventLog& log) {
  PcrValues out;
  uint8_t locality = 0;
  for (const Event& e : log.events()) {
    if (e.type == event_type::kNoAction) {
      if (auto loc = StartupLocality(e)) locality = *loc;
      continue;
    }
    for (const auto& d : e.digests) {
      auto alg = HashAlgFromTpmId(d.alg_id);
      if (!alg.ok() || DigestSize(*alg) != d.digest.size()) continue;
      auto& bank = out[*alg];
      auto it = bank.find(e.pcr);
      if (it == bank.end()) {
        Bytes start(DigestSize(*alg), 0);
        if (e.pcr == 0) start.back() = locality;
        it = bank.emplace(e.pcr, std::move(start)).first;
      }
      Extend(*alg, it->second, d.digest);
    }
  }
  return out;
}

Result<std::map<uint32_t, Bytes>> ReplayWithSubstitutions(
    const EventLog& log, HashAlg bank, const std::map<std::string, Bytes>& substitutions) {
  const size_t size = DigestSize(bank);
  for (const auto& [id, digest] : substitutions) {
    if (digest.size() != size) {
      return Error(ErrorCode::kEventLogComponent, "new digest for component " + id + " is " +
                                                      std::to_string(digest.size()) +
                                                      " bytes, not " + std::to_string(size));
    }
  }
  std::map<std::string, bool> used;
  std::map<uint32_t, Bytes> pcrs;
  uint8_t locality = 0;
  for (const Event& e : log.events()) {
    if (e.type == event_type::kNoAction) {
      if (auto loc = StartupLocality(e)) locality = *loc;
      continue;
    }
    const Bytes* digest = e.DigestFor(bank);
    if (digest == nullptr) continue;
    if (auto comp = ParseComponentEvent(e)) {
      auto it = substitutions.find(comp->id);
      if (it != substitutions.end()) {
        digest = &it->second;
        used[comp->id] = true;
      }
    }
    auto it = pcrs.find(e.pcr);
    if (it == pcrs.end()) {
      Bytes start(size, 0);
      if (e.pcr == 0) start.back() = locality;
      it = pcrs.emplace(e.pcr, std::move(start)).first;
    }
    Extend(bank, it->second, *digest);
  }
  for (const auto& [id, digest] : substitutions) {
    if (!used.contains(id)) {
      return Error(ErrorCode::kEventLogComponent, "component " + id + " is not measured in the " +
                                                      std::string(HashAlgName(bank)) +
                                                      " bank of the log");
    }
  }
  return pcrs;
}

Bytes SelectedPcrValues(const std::map<uint32_t, Bytes>& values, const PcrSelection& selection) {
  Bytes out;
  out.reserve(selection.pcrs.size() * DigestSize(selection.bank));
  for (uint32_t pcr : selection.pcrs) {
    auto it = values.find(pcr);
    if (it != values.end()) {
      Append(out, it->second);
    } else {
      Append(out, PcrResetValue(pcr, selection.bank));
    }
  }
  return out;
}

Bytes CompositeDigest(const std::map<uint32_t, Bytes>& values, const PcrSelection& selection,
                      HashAlg digest_alg) {
  return Hash(digest_alg, SelectedPcrValues(values, selection));
}

}  // namespace henbtrust
