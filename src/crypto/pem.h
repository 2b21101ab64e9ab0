// File: crypto/pem.h
// PEM <-> DER for the few places that read key or certificate files given by
// a user (CLI flags, emulator trust roots). Pure (OpenSSL only).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "base/bytes.h"

namespace kp::crypto {

/// DER of the first certificate in a PEM text, or nullopt.
std::optional<Bytes> certificate_der_from_pem(std::string_view pem);
/// DER of every certificate in a PEM bundle (empty when none).
std::vector<Bytes> certificates_der_from_pem(std::string_view pem);
/// DER SubjectPublicKeyInfo from a PEM public key ("PUBLIC KEY", "RSA PUBLIC
/// KEY") or from DER SPKI bytes; nullopt when neither parses.
std::optional<Bytes> public_key_der_from_pem_or_der(std::string_view data);

}  // namespace kp::crypto
