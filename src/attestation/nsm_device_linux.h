// File: attestation/nsm_device_linux.h
//
// The real NSM backend: /dev/nsm with the NSM_IOCTL_RAW ioctl (protocol.md
// 4.1, Linux drivers/misc/nsm.c). Thin: one request in, exactly the returned
// response.len bytes out; one call at a time (a mutex, like the driver's).
//
//   auto dev = kp::attestation::open_nsm_device();   // Result<shared_ptr<NsmDevice>>
//   kp::attestation::NsmClient nsm(*dev);
//
// Blocking; call from a worker thread. Depends on base/ and POSIX.
#pragma once

#include <memory>
#include <string>

#include "attestation/nsm.h"

namespace kp::attestation {

/// Opens the device (O_RDWR | O_CLOEXEC). Errors: Errc::kNsmFailed naming the
/// path and errno (e.g. not inside an enclave: ENOENT).
Result<std::shared_ptr<NsmDevice>> open_nsm_device(const std::string& path = "/dev/nsm");

}  // namespace kp::attestation
