// Anchoring the audit log's head: signed checkpoints.
//
// The hash chain (store.h) shows that no entry was edited, removed or
// reordered *below the head a reader sees*; alone it cannot show that the
// newest entries were deleted, nor that every entry was rewritten and every
// hash recomputed, because the chain has no key. A checkpoint is the chain's
// head (sequence number and hash) signed with an audit key (ECDSA P-256,
// SHA-256) that the store's owner does not hold: the key and the checkpoint
// file live in the service's directory, not in the database. A reader that
// checks the chain against the checkpoint detects both truncation (fewer
// entries than the checkpoint's sequence number) and a rewrite (another hash
// at that sequence number). Entries appended after the last checkpoint are
// covered only once the next checkpoint is written (docs/oam.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

// The audit log's head at one time, signed.
struct AuditCheckpoint {
  int64_t seq = 0;  // the last entry anchored (>= 1)
  Bytes hash;       // that entry's hash (32 bytes)
  int64_t at = 0;   // when it was signed (Unix seconds)
  Bytes signature;  // ECDSA P-256 over SHA-256 of AuditCheckpointMessage, DER
};

// `checkpoint.at` as UTC, "2025-01-31T12:00:00Z".
std::string AuditCheckpointTime(const AuditCheckpoint& checkpoint);

// The bytes a checkpoint's signature covers: the domain label
// "henbtrust audit checkpoint v1" and a zero byte, then seq (8 bytes), the
// hash's length (8 bytes) and the hash, then `at` (8 bytes); integers
// big-endian.
Bytes AuditCheckpointMessage(int64_t seq, ByteView hash, int64_t at);

// Signs the head (seq, hash) at time `at`. REQUIRES: `key` is a P-256 key
// (kCryptoBadKey otherwise); seq >= 1 and a 32-byte hash (kInvalidArgument).
Result<AuditCheckpoint> SignAuditCheckpoint(int64_t seq, ByteView hash, int64_t at,
                                            const PrivateKey& key);
// kCryptoBadSignature when `checkpoint` was not signed by `key` (or is not
// well-formed); kCryptoBadKey when `key` is not a P-256 key.
Status VerifyAuditCheckpoint(const AuditCheckpoint& checkpoint, const PublicKey& key);

// The checkpoint file's text form: five lines,
//   henbtrust audit checkpoint v1
//   seq N
//   hash HEX
//   at UNIX-SECONDS
//   signature BASE64
// Decoding is strict (kMalformed) and does not verify the signature.
std::string EncodeAuditCheckpoint(const AuditCheckpoint& checkpoint);
Result<AuditCheckpoint> DecodeAuditCheckpoint(std::string_view text);
// Reads a checkpoint file; nullopt when there is none (the head was never
// anchored). Errors: kIo, kMalformed naming the path. Not verified.
Result<std::optional<AuditCheckpoint>> LoadAuditCheckpoint(const std::string& path);

// A new audit key: `dir`/audit.key (PKCS#8 PEM, mode 0600) and
// `dir`/audit.pub (SubjectPublicKeyInfo PEM). Refuses (kInvalidArgument) to
// replace an existing audit.key: checkpoints it signed would no longer verify
// (the check and the creation are one atomic step, so that of several
// processes creating it at once exactly one succeeds).
Status CreateAuditKey(const std::string& dir);
// `dir`/audit.key; kNotFound when it does not exist.
Result<PrivateKey> LoadAuditKey(const std::string& dir);

// Keeps the checkpoint file of one chain up to date. Advance is safe to call
// from several threads (a mutex) and from several processes sharing one
// checkpoint file over one chain (an flock on `path`.lock around each
// Advance; a checkpoint another process wrote further is taken over once the
// chain is seen to hold it). Movable, not copyable.
class AuditAnchor {
 public:
  // Reads the checkpoint at `path` if there is one and verifies it with
  // `key` (kCryptoBadSignature: the file was altered, or the key replaced);
  // creates nothing until the first Advance that has a head to anchor.
  // `key` must be a P-256 key (kCryptoBadKey).
  static Result<AuditAnchor> Open(const std::string& path, PrivateKey key);

  AuditAnchor(AuditAnchor&& other) noexcept;
  AuditAnchor& operator=(AuditAnchor&& other) noexcept;
  ~AuditAnchor();

  // Checks that the store still holds the anchored head (entry `seq` with
  // its hash), then reads every entry after it (in pages) and checks that
  // they extend it (consecutive seq, each naming the previous hash, each
  // hash AuditHash of its entry). If the head moved, signs a checkpoint of
  // the new head and replaces the file crash-safely (atomic rename, fsync).
  // It never anchors a chain that does not extend what it anchored before:
  // kStoreAuditBroken when entries were removed ("truncated") or changed
  // ("rewritten") below the anchored head or are broken above it, and the
  // file is left as it was. kIo / kStore errors of the file or the store.
  // Entries below the anchored head are not read again, only the head's
  // hash: an edit there that leaves the stored hashes as they were is found
  // by VerifyAuditChain, not here. kCryptoBadSignature when the file holds a
  // checkpoint the key did not sign.
  Status Advance(Store& store);

  // The last checkpoint this anchor wrote or read; nullopt before the first.
  std::optional<AuditCheckpoint> Latest() const;

 private:
  struct State;
  explicit AuditAnchor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The anchor a service keeps in its directory: `dir`/audit.anchor signed
// with `dir`/audit.key. An older directory without audit.key gets one
// (CreateAuditKey) and `*created_key` is set, so that the caller can say so;
// a missing audit.pub is written again from audit.key.
Result<AuditAnchor> OpenDirectoryAuditAnchor(const std::string& dir, bool* created_key);

// VerifyAuditChain (store.h) and, when `anchor` is given, also: `anchor` is
// signed by `key`, the log holds at least anchor->seq entries (else
// kStoreAuditBroken: "entries after N are missing: the log was truncated"),
// and entry anchor->seq has anchor->hash (else kStoreAuditBroken: the log
// was rewritten). Returns the number of entries. REQUIRES: `key` is given
// with `anchor` (kInvalidArgument otherwise).
Result<int64_t> VerifyAuditChain(Store& store, const AuditCheckpoint* anchor, const PublicKey* key);

}  // namespace henbtrust
