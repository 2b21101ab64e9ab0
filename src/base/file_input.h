// File: base/file_input.h
//
// Reading a small input file named on the command line (a policy, an
// attestation document, a PEM root, measurements JSON) without trusting it:
// a directory, an unreadable path or anything larger than `limit` is an
// error with a one-line reason, and never more than limit + 1 bytes are read
// (so /dev/zero or a huge file cannot exhaust an enclave's memory). Pipes and
// character devices are fine (/dev/stdin, <(...)).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "base/result.h"
#include "base/secret.h"

namespace kp {

/// How long a FIFO, socket or terminal may take to deliver the whole file
/// (a FIFO nobody writes to would otherwise block the start for ever).
inline constexpr std::chrono::seconds kInputStreamTimeout{10};

/// Default bound for command-line inputs: far above any document, policy or
/// certificate bundle they hold.
inline constexpr std::size_t kMaxInputFileBytes = 1 << 20;

/// The file's bytes. Errors: Errc::kNotFound when the path does not exist
/// ("PATH: No such file or directory", the system's reason), else
/// Errc::kValidation: "PATH: Permission denied", "PATH is a directory",
/// "PATH is larger than N bytes", "PATH: nothing to read within 10 s ..." (a
/// FIFO without a writer reads as empty; one whose writer sends nothing
/// times out).
Result<std::string> read_input_file(const std::string& path, std::size_t limit = kMaxInputFileBytes);

/// The same for a file that holds a secret (a private key): the bytes go
/// straight into wiped memory (`limit` bytes are reserved up front, so keep it
/// small) and the read buffer is wiped.
Result<SecretBytes> read_secret_input_file(const std::string& path, std::size_t limit);

/// The reason of a read_input_file() error without the path in front: "No
/// such file or directory", "it is a directory", "it is larger than N bytes".
std::string input_file_reason(const Error& e, const std::string& path);

}  // namespace kp
