// The messages of the watchdog (docs/recovery.md): a device asking the OAM
// for a deferral ticket (POST /v1/agent/ticket, from the normal OS), or its
// recovery image contacting the OAM (POST /v1/recovery/contact), and the
// OAM's answer. One request and one answer codec, used by both sides.
// Decoding never throws: anything amiss is kNetBadRequest naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "henbtrust/core/bytes.h"
#include "henbtrust/core/result.h"
#include "henbtrust/net/deferral_ticket.h"

namespace henbtrust {

inline constexpr size_t kMaxTicketRequestBytes = size_t{4} * 1024;
// A contact carries the recovery image's evidence, event log included.
inline constexpr size_t kMaxContactBytes = size_t{1} << 20;
inline constexpr size_t kMaxTicketAnswerBytes = size_t{16} * 1024;

struct TicketRequest {
  Bytes nonce;              // the boot stage's challenge (kTicketNonceBytes)
  std::string mode;         // the boot stage's: normal, minimal or recovery
  std::string reason = {};  // in recovery: why it was entered
  // In recovery: what the normal slot measures to (32 bytes), if it holds
  // a release.
  Bytes local_tim = {};
  // In recovery: the release of the recovery image, and its evidence (a
  // JSON object as the PVE takes it) quoted with `nonce`, which proves a
  // boot of the recovery image (RecoveryBootTim, device/boot_stage.h).
  std::string recovery_release_id = {};
  std::string recovery_version = {};
  std::string evidence = {};
};
std::string EncodeTicketRequest(const TicketRequest& request);
Result<TicketRequest> DecodeTicketRequest(std::string_view text);

struct TicketAnswer {
  TicketVerdict verdict = TicketVerdict::kDefer;
  std::string ticket;       // the signed ticket (net/deferral_ticket.h)
  int64_t period = 0;       // kDefer: seconds the deadline moves on
  int64_t deadline = 0;     // kDefer: the OAM's reckoning of it (Unix seconds)
  int64_t job = 0;          // kRecover: the recover job to carry out (0: none)
  std::string detail = {};  // why, in words
  // To a recovery image whose release is not its hardware model's recovery
  // release (server watchdog --recovery-release): update yourself to this
  // one (Device::UpdateRecoveryImage). Empty: nothing to update.
  std::string recovery_image_release_id = {};
  std::string recovery_image_version = {};
};
std::string EncodeTicketAnswer(const TicketAnswer& answer);
Result<TicketAnswer> DecodeTicketAnswer(std::string_view text);

}  // namespace henbtrust
