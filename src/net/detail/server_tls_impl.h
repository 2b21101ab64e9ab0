// File: net/detail/server_tls_impl.h
//
// The Asio SSL context behind kp::net::ServerTls. Internal to net/: include
// only from .cc files.
#pragma once

#include <string>

#include <boost/asio/ssl/context.hpp>

#include "net/server_tls.h"

namespace kp::net {

struct ServerTls::Impl {
  // Configured once in ServerTls::load(); afterwards only SSL_new() reads it
  // (thread-safe in OpenSSL 3). ssl::stream wants a non-const reference.
  boost::asio::ssl::context ctx{boost::asio::ssl::context::tls_server};
  std::string subject;
};

}  // namespace kp::net
