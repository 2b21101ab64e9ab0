// File: emulator/emulator.h
//
// A local AWS KMS (JSON 1.1 protocol, TrentService) that, unlike other
// emulators, honours `Recipient`: it verifies the Nitro attestation document
// (AWS root plus configured roots), answers with CiphertextForRecipient in
// KMS's CMS format, and evaluates key policies with the
// kms:RecipientAttestation:* condition keys through kp::policy.
//
// The core is synchronous and pure (no Asio): handle() takes a parsed HTTP
// request and returns the response; the kms-emulator executable serves it
// over kp::net on a worker pool (state changes fsync files: blocking I/O).
//
//   auto emu = kp::emulator::KmsEmulator::open({.data_dir = dir});
//   kp::HttpResponse r = (*emu)->handle(request);
//
// @par Thread safety: handle() may be called concurrently; one mutex guards
// the store and is never held across crypto that can take long (RSA keygen).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/http_message.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::emulator {

/// The account (and principal arn:aws:iam::<account>:root) of every caller
/// when no credentials file is configured.
inline constexpr std::string_view kDefaultAccount = "111122223333";
inline constexpr std::string_view kDefaultRegion = "us-east-1";

/// One access key the emulator accepts (--credentials).
struct Credential {
  std::string access_key_id;
  SecretBytes secret_access_key;
  std::string account;        // 12 digits
  std::string principal_arn;  // arn:aws:iam::<account>:root | :user/<name> | :role/<name>
};

struct EmulatorOptions {
  std::filesystem::path data_dir;
  std::string region = std::string(kDefaultRegion);
  std::string default_account = std::string(kDefaultAccount);
  /// Extra DER roots accepted for attestation documents, besides the pinned
  /// AWS Nitro root.
  std::vector<Bytes> extra_trust_roots_der;
  /// When set, every request must carry a valid SigV4 signature by one of
  /// these keys; the principal is the key's. When unset, signatures are not
  /// checked and every caller is default_account's root.
  std::optional<std::vector<Credential>> credentials;
  /// Time source for key dates, deletion windows, SigV4 and certificate
  /// validity (tests pin it). Must outlive the emulator. Null = system clock.
  const Clock* clock = nullptr;
  /// Requests arrive over TLS: the aws:SecureTransport condition key.
  bool secure_transport = false;
};

class KmsEmulator {
 public:
  /// Opens the state in options.data_dir (creating it). Errors:
  /// Errc::kInternal naming the file or directory.
  static Result<std::unique_ptr<KmsEmulator>> open(EmulatorOptions options);
  ~KmsEmulator();
  KmsEmulator(const KmsEmulator&) = delete;
  KmsEmulator& operator=(const KmsEmulator&) = delete;

  /// Answers one KMS request: 200 with the JSON result, or a KMS error
  /// ({"__type","message"}, status from kp::to_http). Always sets
  /// Content-Type application/x-amz-json-1.1 and x-amzn-RequestId.
  HttpResponse handle(const HttpRequest& request);

  struct Impl;

 private:
  explicit KmsEmulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Parses a credentials file: either JSON
///   {"credentials":[{"access_key_id":"AKIA...","secret_access_key":"...",
///                    "account":"111122223333","user":"alice"}]}   ("role" instead of "user" allowed)
/// or lines "ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT [user/NAME|role/NAME]"
/// ('#' comments and blank lines ignored). Errors: Errc::kValidation listing
/// every problem (line numbers), never the secrets.
Result<std::vector<Credential>> parse_credentials(std::string_view text);

}  // namespace kp::emulator
