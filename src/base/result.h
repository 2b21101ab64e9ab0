// File: base/result.h
//
// kp::Result<T>: a value or a kp::Error, on top of boost::system::result
// (header-only, no Asio). Pure modules return it; nothing on the request path
// throws across module boundaries.
//
//   kp::Result<int> parse(std::string_view s);
//   auto r = parse("12");
//   if (!r) return r.error();      // propagate
//   use(*r);
#pragma once

#include <boost/system/result.hpp>

#include "base/error.h"

namespace kp {

[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

/// Builds an error result: `return kp::fail(Errc::kValidation, "...")`.
inline Error fail(Errc code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace kp
