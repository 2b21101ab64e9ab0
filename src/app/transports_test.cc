#include "app/transports.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>

namespace kp::app {
namespace {

// Records the hosts it is asked for and fails every connect (no sockets).
class RecordingTransport final : public net::Transport {
 public:
  boost::asio::awaitable<Result<net::Socket>> connect(std::string host, std::uint16_t, net::Deadline) override {
    hosts.push_back(host);
    co_return Error{Errc::kUpstreamUnreachable, "recording transport: " + host};
  }
  std::string describe() const override { return "recording"; }
  std::vector<std::string> hosts;
};

// The connect's error (every connect here fails: the recording transport
// always, a direct one on a closed port).
Error connect(net::Transport& t, const std::string& host) {
  boost::asio::io_context ioc;
  Error out{Errc::kInternal, "connect did not finish"};
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        auto r = co_await t.connect(host, 1, std::chrono::steady_clock::now() + std::chrono::seconds(5));
        out = r ? Error{Errc::kInternal, "connected"} : r.error();
      },
      boost::asio::detached);
  ioc.run_for(std::chrono::seconds(10));
  return out;
}

config::EgressPolicy policy(std::vector<std::string> allow, std::vector<std::string> deny) {
  config::EgressOptions e;
  e.allow = std::move(allow);
  e.deny = std::move(deny);
  auto p = config::EgressPolicy::compile(e);
  EXPECT_TRUE(p.has_value());
  return std::move(*p);
}

TEST(EgressTransport, RefusesWhatThePolicyDoesNotAdmitWithoutConnecting) {
  auto inner = std::make_shared<RecordingTransport>();
  EgressTransport t(policy({"kms.*.amazonaws.com", "169.254.169.254"}, {"kms.eu-west-1.amazonaws.com"}), inner);

  const Error other = connect(t, "sts.amazonaws.com");
  EXPECT_EQ(other.code, Errc::kEgressDenied);
  EXPECT_NE(other.message.find("does not admit sts.amazonaws.com"), std::string::npos) << other.message;
  EXPECT_NE(other.message.find("add 'sts.amazonaws.com' to egress.allow"), std::string::npos) << other.message;

  const Error denied = connect(t, "kms.eu-west-1.amazonaws.com");
  EXPECT_EQ(denied.code, Errc::kEgressDenied);
  EXPECT_NE(denied.message.find("denied by egress.deny pattern"), std::string::npos) << denied.message;
  EXPECT_TRUE(inner->hosts.empty()) << "a refused host reached the inner transport";

  // Admitted hosts and the enclave's own loopback go on to the inner transport.
  for (const char* host : {"kms.us-east-1.amazonaws.com", "169.254.169.254", "localhost", "127.0.0.1", "::1"}) {
    EXPECT_EQ(connect(t, host).code, Errc::kUpstreamUnreachable) << host;
  }
  EXPECT_EQ(inner->hosts, (std::vector<std::string>{"kms.us-east-1.amazonaws.com", "169.254.169.254", "localhost",
                                                   "127.0.0.1", "::1"}));
}

TEST(EgressTransport, DenyOnlyPolicyAdmitsEverythingElse) {
  auto inner = std::make_shared<RecordingTransport>();
  EgressTransport t(policy({}, {"169.254.169.254"}), inner);
  EXPECT_EQ(connect(t, "169.254.169.254").code, Errc::kEgressDenied);
  EXPECT_EQ(connect(t, "::ffff:169.254.169.254").code, Errc::kEgressDenied);  // mapped: same address
  EXPECT_EQ(connect(t, "kms.us-east-1.amazonaws.com").code, Errc::kUpstreamUnreachable);
  EXPECT_EQ(inner->hosts, std::vector<std::string>{"kms.us-east-1.amazonaws.com"});
}

TEST(NoProxyTransport, ListedHostsAndOptionallyLoopbackGoDirect) {
  auto proxy = std::make_shared<RecordingTransport>();
  NoProxyTransport kms(proxy, {"internal.example"}, false);
  NoProxyTransport creds(proxy, {"internal.example"}, true);
  EXPECT_EQ(kms.describe(), "recording no_proxy=internal.example");
  // Through the proxy: recorded. Direct: a real connect to a closed port (not recorded).
  (void)connect(kms, "kms.us-east-1.amazonaws.com");
  (void)connect(kms, "localhost");
  (void)connect(creds, "localhost");
  (void)connect(creds, "127.0.0.1");
  EXPECT_EQ(proxy->hosts, (std::vector<std::string>{"kms.us-east-1.amazonaws.com", "localhost"}));
}

}  // namespace
}  // namespace kp::app
