// File: attestation/aws_root.h
//
// The pinned AWS Nitro Enclaves Root G1 certificate (DER, embedded), the trust
// anchor of every real attestation document (protocol.md 5.4). AWS publishes
// the SHA-256 of the ZIP that contains it; we pin the certificate itself by
// its DER SHA-256 641a0321...bb5b and re-check that at startup.
// Depends on base/ and crypto/ (for the self-check hash) only.
#pragma once

#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace kp::attestation {

/// Lower-case hex SHA-256 of the root certificate's DER.
inline constexpr std::string_view kAwsNitroRootSha256 =
    "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// The embedded DER of AWS_NitroEnclaves_Root-G1 (533 bytes).
ByteView aws_nitro_root_der() noexcept;

/// Startup check: the embedded DER hashes to kAwsNitroRootSha256.
/// Errors: Errc::kInternal (a corrupted binary; refuse to run).
Result<void> check_aws_nitro_root();

}  // namespace kp::attestation
