// File: crypto/rsa_keygen.h
// RSA key generation with the prime search on several threads (internal to
// crypto; RsaKeyPair::generate uses it). Pure: OpenSSL, no Asio.
#pragma once

#include "base/result.h"
#include "crypto/openssl_util.h"

namespace kp::crypto::detail {

/// An RSA key of `bits` (even, >= 1024) with e = 65537, its two primes found
/// by `threads` concurrent searchers (1 = sequential). Self-tested with an
/// OAEP round trip. Errors: kInternal.
Result<PkeyPtr> generate_rsa_parallel(unsigned bits, unsigned threads);

}  // namespace kp::crypto::detail
