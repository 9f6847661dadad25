// Release bundles: one file holding the signed manifest and the component
// payloads. Verification streams the file once with a fixed buffer, so its
// memory does not grow with the bundle. Layout: docs/release-bundle.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "henbtrust/core/env.h"
#include "henbtrust/release/manifest.h"
#include "henbtrust/release/trust.h"

namespace henbtrust {

inline constexpr size_t kMaxManifestBytes = size_t{64} * 1024;
inline constexpr size_t kMaxSignatureBlockBytes = 2 + kMaxSignatures * (32 + 2 + kMaxSignatureSize);

// The part of a bundle before the payloads, parsed but not trusted.
struct BundleHeader {
  Bytes manifest_bytes;
  ReleaseManifest manifest;
  std::vector<ReleaseSignature> signatures;
  uint64_t payload_offset = 0;
};

// Reads and parses the header without checking signatures (for inspect/sign).
// Bundles are read through `env` (Env::Default() where none is given).
Result<BundleHeader> ReadBundleHeader(const std::string& path);
Result<BundleHeader> ReadBundleHeader(Env& env, const std::string& path);

struct BundlePolicy {
  const TrustRoot* trust = nullptr;           // required
  std::optional<std::string> hardware_model;  // must be listed in the manifest
  uint64_t floor = 0;                         // release_counter must be >= floor
  int64_t now = 0;                            // Unix seconds; expires_at must be later
};

// Receives each component's bytes in order; `last` marks its final chunk
// (after which the digest has been checked and matched).
using PayloadSink =
    std::function<Status(const ReleaseComponent& component, ByteView chunk, bool last)>;

// Verifies a bundle: structure, signatures against the trust root and its
// threshold, expiry, hardware model, anti-rollback floor, then each payload
// against its size and RIM, then that nothing follows. Signatures and policy
// are checked before any payload byte is read or passed to `sink`.
Result<ReleaseManifest> VerifyBundle(const std::string& path, const BundlePolicy& policy,
                                     const PayloadSink& sink = nullptr);
Result<ReleaseManifest> VerifyBundle(Env& env, const std::string& path, const BundlePolicy& policy,
                                     const PayloadSink& sink = nullptr);

// Writes a bundle for `manifest`, streaming each component from
// `component_files` (id -> path). The files must match the manifest.
Status WriteBundle(const std::string& path, const ReleaseManifest& manifest,
                   const std::vector<ReleaseSignature>& signatures,
                   const std::map<std::string, std::string>& component_files);

// Adds (or replaces) `key`'s signature, rewriting the bundle to `out_path`
// (which may be `path`) with the payload streamed unchanged.
Status SignBundle(const std::string& path, const PrivateKey& key, const std::string& out_path);

// Builds a manifest entry for a file: size and SHA-256 by streaming it.
Result<ReleaseComponent> DescribeComponentFile(const std::string& id, const std::string& version,
                                               uint32_t pcr, const std::string& path);

}  // namespace henbtrust
