// File: base/openssl.h
// What every module that calls OpenSSL directly shares: an owning pointer
// for objects freed by one function, and the one way to turn the thread's
// OpenSSL error queue into a message. No OpenSSL types in this header.
#pragma once

#include <memory>
#include <string>

namespace kp {

/// Calls `Free` on the pointer: the deleter of CPtr.
template <auto Free>
struct FreeWith {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

/// A unique_ptr to a C object released by `Free`, e.g.
/// `CPtr<EVP_PKEY, EVP_PKEY_free>`.
template <class T, auto Free>
using CPtr = std::unique_ptr<T, FreeWith<Free>>;

/// The reason text of the earliest error in this thread's OpenSSL error queue
/// (the root cause: later entries are the callers that passed it on), e.g.
/// "certificate verify failed" or, for a system error, "No such file or
/// directory"; "unknown OpenSSL error" when the queue is empty. Clears the
/// queue, so a stale error never leaks into a later diagnostic.
std::string take_openssl_error();

}  // namespace kp
