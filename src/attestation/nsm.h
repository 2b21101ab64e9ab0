// File: attestation/nsm.h
//
// The Nitro Secure Module message codec (protocol.md 4.2: serde_cbor
// conventions of aws-nitro-enclaves-nsm-api) and a client on top of a raw
// device interface. The SAME codec serves the real /dev/nsm backend
// (nsm_device_linux.h) and the simulator (simulated_nsm.h), so the simulator
// sees and produces exactly the bytes a real NSM does.
//
//   auto dev = kp::attestation::open_nsm_device();        // or a SimulatedNsm
//   kp::attestation::NsmClient nsm(std::move(*dev));
//   auto doc = nsm.attestation({.public_key = spki});      // Result<Bytes>
//
// Requests are unit variants ("DescribeNSM") or one-entry maps
// ({"Attestation": {...}}); responses mirror them; any failure is
// {"Error": "<ErrorCode>"}, mapped to NsmErrorCode and Errc::kNsmFailed.
// Depends on base/ and cbor/; no Asio, no OpenSSL.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace kp::attestation {

inline constexpr std::size_t kNsmRequestMaxBytes = 0x1000;   // driver: larger -> EMSGSIZE
inline constexpr std::size_t kNsmResponseMaxBytes = 0x3000;  // driver response buffer
inline constexpr std::size_t kNsmFieldMaxBytes = 1024;       // user_data, nonce, public_key

/// ErrorCode of nsm-api (C ABI ordinals 0..8 in libnsm).
enum class NsmErrorCode {
  kSuccess,
  kInvalidArgument,
  kInvalidIndex,
  kInvalidResponse,
  kReadOnlyIndex,
  kInvalidOperation,
  kBufferTooSmall,
  kInputTooLarge,
  kInternalError,
};
std::string_view nsm_error_name(NsmErrorCode code) noexcept;
std::optional<NsmErrorCode> nsm_error_from_name(std::string_view name) noexcept;

/// Every NSM failure is reported as Errc::kNsmFailed with a message containing
/// "NSM error <Name>"; this recovers the typed code from such an error.
std::optional<NsmErrorCode> nsm_error_code(const Error& e) noexcept;

struct AttestationRequest {
  std::optional<Bytes> user_data{};   // <= 1024 bytes each
  std::optional<Bytes> nonce{};
  std::optional<Bytes> public_key{};  // DER SPKI for KMS Recipient
};

struct NsmDescription {
  std::uint16_t version_major = 0;
  std::uint16_t version_minor = 0;
  std::uint16_t version_patch = 0;
  std::string module_id;
  std::uint16_t max_pcrs = 0;
  std::vector<std::uint16_t> locked_pcrs;
  std::string digest;
};

struct PcrDescription {
  bool locked = false;
  Bytes data;
};

// --- requests (client side encodes, simulator decodes) ----------------------

/// {"Attestation":{"user_data":b|null,"nonce":b|null,"public_key":b|null}} in that order.
Bytes encode_attestation_request(const AttestationRequest& req);
/// "DescribeNSM" = 6b 44657363726962654e534d.
Bytes encode_describe_nsm_request();
/// {"DescribePCR":{"index":n}}.
Bytes encode_describe_pcr_request(std::uint16_t index);
/// "GetRandom" = 69 47657452616e646f6d (the kernel driver's literal).
Bytes encode_get_random_request();

struct NsmRequest {
  enum class Kind { kAttestation, kDescribeNsm, kDescribePcr, kGetRandom, kUnsupported };
  Kind kind = Kind::kUnsupported;
  std::string name;                 // variant name as received
  AttestationRequest attestation;   // kAttestation
  std::uint16_t index = 0;          // kDescribePcr
};
/// Decodes a request. A well-formed request of an operation we do not
/// implement yields kUnsupported; malformed input yields an error carrying
/// NSM error InvalidArgument.
Result<NsmRequest> decode_request(ByteView request);

// --- responses (device/simulator encodes, client decodes) -------------------

Bytes encode_attestation_response(ByteView document);
Bytes encode_describe_nsm_response(const NsmDescription& d);
Bytes encode_describe_pcr_response(const PcrDescription& d);
Bytes encode_get_random_response(ByteView random);
/// {"Error":"<Name>"}.
Bytes encode_error_response(NsmErrorCode code);

/// The code of an {"Error": ...} response, or nullopt for any other message.
std::optional<NsmErrorCode> decode_error_response(ByteView response);

/// Response decoders. Errors: Errc::kNsmFailed ("nsm: <Op>: NSM error <Name>"
/// for error responses; "nsm: <Op>: malformed response ..." otherwise).
Result<Bytes> decode_attestation_response(ByteView response);
Result<NsmDescription> decode_describe_nsm_response(ByteView response);
Result<PcrDescription> decode_describe_pcr_response(ByteView response);
Result<Bytes> decode_get_random_response(ByteView response);

/// A raw NSM: one CBOR request in, one CBOR response out (exactly the bytes
/// the driver returned). Implementations must be safe to call from several
/// threads (they serialize calls; the real device handles one at a time).
class NsmDevice {
 public:
  virtual ~NsmDevice() = default;
  /// Errors: Errc::kNsmFailed (device unavailable, ioctl failure, request too
  /// large: "NSM error InputTooLarge"). An {"Error":...} reply is a success here.
  virtual Result<Bytes> transact(ByteView request) = 0;
};

/// Typed operations over an NsmDevice. Blocking (the real ioctl can take
/// milliseconds): call from a worker thread, never from an I/O thread.
/// @par Thread safety: as safe as the device (all provided devices are).
class NsmClient {
 public:
  explicit NsmClient(std::shared_ptr<NsmDevice> device);

  /// The COSE_Sign1 attestation document. Errors: Errc::kValidation (a field
  /// over 1024 bytes), Errc::kNsmFailed.
  Result<Bytes> attestation(const AttestationRequest& req);
  Result<NsmDescription> describe_nsm();
  Result<PcrDescription> describe_pcr(std::uint16_t index);
  /// Random bytes from the NSM (up to 256 per call on real hardware).
  Result<Bytes> get_random();

  NsmDevice& device() noexcept { return *device_; }

 private:
  Result<Bytes> call(std::string_view op, ByteView request);
  std::shared_ptr<NsmDevice> device_;
};

/// The enclave's PCRs against `expected` (index -> value, e.g. the
/// configuration's attestation.pcrs): one line per PCR that differs or cannot
/// be read, naming both values; empty when every one matches. Blocking.
std::vector<std::string> compare_pcrs(NsmClient& nsm, const std::map<unsigned, Bytes>& expected);

}  // namespace kp::attestation
