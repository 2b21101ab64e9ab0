// File: net/asio_impl.cc
// The one translation unit that compiles Asio, Asio.SSL and Beast. kp_net
// defines BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION
// publicly, so every other TU only sees declarations (a Beast TU costs ~30 s
// and 1 GB on the build machine; this keeps it to one).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
