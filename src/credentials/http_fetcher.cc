#include "credentials/http_fetcher.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <variant>

#include "net/transport.h"

namespace kp::credentials {

std::string HttpEndpoint::to_string() const { return scheme + "://" + net::host_port(host, port); }

boost::asio::awaitable<Result<HttpResponse>> fetch_with_deadline(HttpFetcher& fetcher,
                                                                 const HttpEndpoint& endpoint,
                                                                 HttpRequest req,
                                                                 const FetchTimeouts& timeouts) {
  using boost::asio::experimental::awaitable_operators::operator||;
  try {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    timer.expires_after(timeouts.total);
    // Whichever finishes first cancels the other; the fetcher's socket
    // operations see a terminal cancellation and unwind.
    auto winner = co_await (fetcher.fetch(endpoint, std::move(req), timeouts) ||
                            timer.async_wait(boost::asio::use_awaitable));
    if (winner.index() == 0) {
      co_return std::move(std::get<0>(winner));
    }
    co_return fail(Errc::kUpstreamTimeout, "no response from " + endpoint.to_string() + " within " +
                                               std::to_string(timeouts.total.count()) + " ms");
  } catch (const std::exception& e) {
    co_return fail(Errc::kInternal,
                   "request to " + endpoint.to_string() + " failed unexpectedly: " + e.what());
  }
}

}  // namespace kp::credentials
