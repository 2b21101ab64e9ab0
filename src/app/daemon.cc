#include "app/daemon.h"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>

#include "app/transports.h"
#include "attestation/nsm.h"
#include "attestation/nsm_device_linux.h"
#include "attestation/sim_pki.h"
#include "attestation/simulated_nsm.h"
#include "base/encoding.h"
#include "base/time_format.h"
#include "config/address.h"
#include "credentials/default_chain.h"
#include "credentials/provider.h"
#include "credentials/upstream_fetcher.h"
#include "crypto/random.h"
#include "crypto/rsa_key.h"
#include "net/http_server.h"
#include "net/io_pool.h"
#include "net/transport.h"
#include "net/upstream_client.h"
#include "proxy/attestation_source.h"
#include "proxy/clock_skew.h"
#include "proxy/handler.h"
#include "proxy/metrics.h"

namespace kp::app {

namespace {

void add_problem(std::vector<std::string>& problems, const Error& e) { problems.push_back(e.message); }

// "FILE:LINE: " (or "--flag: ") of the setting at `path` when it was set
// explicitly: a startup problem about a value points at where it was written.
std::string origin_prefix(const config::Config& cfg, std::string_view path) {
  const std::string where = cfg.origin_of(path).to_string();
  return where.empty() ? where : where + ": ";
}

// Connections refused over limits.max_connections come in floods: at most one
// warning a second, counting the refusals since the previous one. A timer
// reports the tail of a burst that no later refusal would bring out.
class RefusalLog : public std::enable_shared_from_this<RefusalLog> {
 public:
  RefusalLog(const boost::asio::any_io_executor& ex, std::size_t limit) : timer_(ex), limit_(limit) {}
  void refused() {
    std::lock_guard lock(mu_);
    ++pending_;
    const auto now = std::chrono::steady_clock::now();
    if (!last_ || now - *last_ >= std::chrono::seconds(1)) {
      flush_locked(now);
    } else if (!armed_) {
      armed_ = true;
      timer_.expires_at(*last_ + std::chrono::seconds(1));
      timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        std::lock_guard relock(self->mu_);
        self->armed_ = false;
        if (!ec && self->pending_ > 0) {
          self->flush_locked(std::chrono::steady_clock::now());
        }
      });
    }
  }

 private:
  void flush_locked(std::chrono::steady_clock::time_point now) {
    spdlog::warn("connections_refused refused={} max_connections={} reason=limits.max_connections reached: "
                 "answered 503 (one such line a second at most, counting since the last)",
                 pending_, limit_);
    pending_ = 0;
    last_ = now;
  }

  std::mutex mu_;
  boost::asio::steady_timer timer_;
  std::size_t limit_;
  std::uint64_t pending_ = 0;
  std::optional<std::chrono::steady_clock::time_point> last_;
  bool armed_ = false;
};

Error joined(const std::vector<std::string>& problems) {
  std::string msg;
  for (const auto& p : problems) {
    if (!msg.empty()) {
      msg += '\n';
    }
    msg += p;
  }
  return Error{Errc::kValidation, msg};
}

// Every client connection may hold an upstream connection too, plus the
// pool's idle ones, the metrics listener and the odd file: over the soft
// RLIMIT_NOFILE, accept() fails and new clients wait in the backlog. Raise
// the soft limit up to the hard one when needed (as nginx's
// worker_rlimit_nofile and Go's runtime do; `run` gives CMD the original
// back, supervisor.h), and say so when even that is not enough.
void ensure_descriptor_room(std::size_t max_connections) {
  const rlim_t needed = static_cast<rlim_t>(2 * max_connections + 128);
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= needed) {
    return;
  }
  rlimit raised = rl;
  raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? needed : std::min(needed, rl.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
    spdlog::info("raised the open-file limit from {} to {} for limits.max_connections={}", rl.rlim_cur,
                 raised.rlim_cur, max_connections);
    rl = raised;
  }
  if (rl.rlim_cur < needed) {
    spdlog::warn("limits.max_connections={} needs about {} open files but RLIMIT_NOFILE allows {} (hard limit {}): "
                 "beyond that, new clients wait until others leave (raise it, e.g. ulimit -n)",
                 max_connections, needed, rl.rlim_cur, rl.rlim_max);
  }
}

}  // namespace

struct Daemon::Impl {
  config::Config cfg;
  DaemonExtras extras;
  std::string description;
  // SigV4 dates and credential expiry read this clock, corrected by KMS's
  // Date header (declared before everything that points at it).
  proxy::ClockSkew skew{SystemClock::instance()};

  std::unique_ptr<net::IoPool> pool;
  std::unique_ptr<crypto::RsaKeyPair> key;
  std::shared_ptr<attestation::NsmDevice> nsm_device;
  std::unique_ptr<attestation::NsmClient> nsm;
  std::unique_ptr<proxy::AttestationSource> attestation;
  std::shared_ptr<credentials::CredentialsProvider> credentials;
  credentials::Chain chain;
  std::unique_ptr<net::UpstreamClient> upstream;
  proxy::ProxyMetrics metrics;
  std::atomic<bool> stopping{false};  // stop()'s grace ran out: a cut request is the proxy's doing
  std::unique_ptr<proxy::ProxyHandler> handler;
  std::unique_ptr<net::HttpServer> server;
  std::unique_ptr<net::HttpServer> metrics_server;
  std::uint16_t port = 0;
  bool started = false;

  // Stop the I/O threads before any component they may still be running
  // (upstream fetches, credential refreshes) is destroyed.
  ~Impl() {
    if (pool) {
      pool->stop();
      pool->join();
    }
  }
};

namespace {

// Expiring credentials are refreshed in the background when a request finds
// them inside the refresh window. An idle proxy gets no requests: this asks
// the cache every `period` (a fifth of the refresh margin, 1..60 s), so the
// refresh happens on time anyway and kms_proxy_credentials_expiry_timestamp_seconds
// stays in the future. Runs until the pool stops.
boost::asio::awaitable<void> keep_credentials_fresh(std::shared_ptr<credentials::CachingProvider> cache,
                                                    std::chrono::seconds period) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) {
      co_return;
    }
    (void)co_await cache->get();  // starts a refresh inside the window; failures are counted and logged
  }
}

}  // namespace

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() {
  if (impl_ && impl_->started) {
    stop();
  }
}

Result<std::unique_ptr<Daemon>> Daemon::create(const config::Config& cfg, DaemonExtras extras) {
  auto d = std::make_unique<Impl>();
  d->cfg = cfg;
  d->extras = std::move(extras);
  std::vector<std::string> problems;

  // 1. The proxy's own RSA-2048 key pair: in memory only, for this process.
  //    Generating it dominates the start-up time, so it runs in the
  //    background while the rest (trust store, credentials, NSM) is set up.
  const bool attested = cfg.attestation.mode != config::AttestationMode::kNone;
  std::future<Result<crypto::RsaKeyPair>> keygen;
  if (attested) {
    keygen = std::async(std::launch::async, [] { return crypto::RsaKeyPair::generate(2048); });
  }

  // 2. The NSM backend.
  std::string mode_line;
  switch (cfg.attestation.mode) {
    case config::AttestationMode::kNsm: {
      auto dev = attestation::open_nsm_device(cfg.attestation.nsm_device);
      if (!dev) {
        problems.push_back(origin_prefix(cfg, "kms_proxy.attestation.device") + dev.error().message +
                           " (outside a Nitro Enclave use --attestation simulated --sim-pki-dir DIR "
                           "for development, or --attestation none)");
      } else {
        d->nsm_device = std::move(*dev);
        // attestation.pcrs / measurements: the image this configuration was
        // written for. A different enclave image is a startup error, not a
        // stream of AccessDenied from KMS later.
        if (!cfg.attestation.pcrs.empty()) {
          attestation::NsmClient nsm(d->nsm_device);
          for (auto& line : attestation::compare_pcrs(nsm, cfg.attestation.pcrs)) {
            problems.push_back("attestation.pcrs: " + line);
          }
        }
      }
      mode_line = "attestation=nsm device=" + cfg.attestation.nsm_device;
      break;
    }
    case config::AttestationMode::kSimulated: {
      auto pki = attestation::load_sim_pki(cfg.attestation.sim_pki_dir);
      if (!pki) {
        problems.push_back(origin_prefix(cfg, "kms_proxy.attestation.sim_pki_dir") +
                           "simulated attestation: " + pki.error().message +
                           " (create one with: kms-proxy sim-pki init DIR)");
        break;
      }
      attestation::SimulatedNsmOptions o;
      o.pki = std::make_shared<const attestation::SimPki>(std::move(*pki));
      o.pcrs = cfg.attestation.pcrs;
      o.latency = d->extras.sim_nsm_latency;
      auto sim = attestation::SimulatedNsm::create(std::move(o));
      if (!sim) {
        add_problem(problems, sim.error());
      } else {
        d->nsm_device = std::move(*sim);
      }
      mode_line = "attestation=SIMULATED (NOT A REAL ENCLAVE: documents are signed by the "
                  "development PKI in " + cfg.attestation.sim_pki_dir + ")";
      break;
    }
    case config::AttestationMode::kNone:
      mode_line = "attestation=none (attested operations are forwarded without a Recipient)";
      break;
  }
  // 3. Upstream transport (direct | CONNECT proxy | vsock), shared by KMS
  //    and the credential endpoints, and the I/O threads.
  d->pool = std::make_unique<net::IoPool>(cfg.io.threads, cfg.io.busy_poll);
  d->pool->run();
  net::UpstreamOptions uo;
  uo.connect_timeout = cfg.upstream.timeouts.connect;
  uo.tls_handshake_timeout = cfg.upstream.timeouts.tls_handshake;
  uo.response_timeout = cfg.upstream.timeouts.request;
  uo.idle_pool_expiry = cfg.upstream.pool.idle_timeout;
  uo.max_idle_per_endpoint = cfg.upstream.pool.max_idle_per_host;
  uo.extra_ca_files = cfg.upstream.ca_files;
  uo.ca_files_source = cfg.origin_of("kms_proxy.upstream.ca_file").to_string();
  std::string path_line = "direct";
  std::shared_ptr<net::Transport> credentials_transport;  // the credential endpoints' path
  if (cfg.vsock.enabled()) {
    uo.transport = std::make_shared<net::VsockTransport>(*cfg.vsock.cid, cfg.vsock.port);
    path_line = uo.transport->describe();
  } else if (auto proxy = config::upstream_proxy(cfg.egress)) {
    auto connect = std::make_shared<net::HttpConnectTransport>(proxy->host, proxy->port);
    uo.transport = std::make_shared<app::NoProxyTransport>(connect, cfg.egress.no_proxy, false);
    credentials_transport = std::make_shared<app::NoProxyTransport>(connect, cfg.egress.no_proxy, true);
    path_line = uo.transport->describe();
  }
  if (!credentials_transport) {
    credentials_transport = uo.transport;  // null: direct, for both
  }
  // The egress policy holds on every path (direct, CONNECT, vsock), not only
  // behind odyn's egress proxy: a host it does not admit is never connected to.
  auto egress_policy = config::EgressPolicy::compile(cfg.egress);
  const bool egress_enforced = egress_policy && (egress_policy->configured() || !cfg.egress.deny.empty());
  if (egress_enforced) {
    const auto& policy = egress_policy;
    const auto guarded = [&](std::shared_ptr<net::Transport> t) {
      return std::make_shared<app::EgressTransport>(*policy,
                                                    t ? std::move(t) : std::make_shared<net::DirectTcpTransport>());
    };
    uo.transport = guarded(uo.transport);
    credentials_transport = guarded(credentials_transport);
  }

  // 4. Credentials: environment, container endpoint or IMDSv2 (cached and
  //    refreshed in the background), through the same egress path.
  if (d->extras.credentials) {
    d->credentials = d->extras.credentials;
  } else {
    credentials::ChainOptions co;
    const auto env = credentials::process_env();
    co.env = env;
    // credentials.sources, in its order: a source not listed is never used.
    co.sources.clear();
    for (const auto s : cfg.credentials.chain) {
      co.sources.push_back(s == config::CredentialSource::kEnv         ? credentials::SourceKind::kEnvironment
                           : s == config::CredentialSource::kProfile   ? credentials::SourceKind::kProfile
                           : s == config::CredentialSource::kContainer ? credentials::SourceKind::kContainer
                                                                       : credentials::SourceKind::kImds);
    }
    // credentials.imds_endpoint (validated as http://HOST[:PORT]);
    // AWS_EC2_METADATA_SERVICE_ENDPOINT still wins, as in the AWS SDKs.
    auto plain_hosts = credentials::plain_http_hosts_from_env(env);
    if (auto imds = config::parse_endpoint(cfg.credentials.imds_endpoint)) {
      co.imds.endpoint = credentials::HttpEndpoint{imds->scheme, imds->host, imds->port};
      plain_hosts.push_back(imds->host);
    }
    // credentials.imds_timeout bounds each IMDS call; the shared client's own
    // response deadline must not cut it shorter.
    credentials::FetchTimeouts fetch_timeouts;
    fetch_timeouts.total = std::max(fetch_timeouts.total, cfg.credentials.imds_timeout);
    co.http = credentials::make_upstream_fetcher(*d->pool, credentials_transport, fetch_timeouts, plain_hosts);
    co.imds.timeouts.total = cfg.credentials.imds_timeout;
    co.cache.refresh_window = cfg.credentials.refresh_margin;
    co.cache.clock = &d->skew.clock();  // expiry times come from the parent's (synchronised) clock
    auto* metrics = &d->metrics;
    co.cache.on_refresh = [metrics](bool ok, std::optional<SysTime> expiration, std::string_view reason) {
      metrics->credential_refresh(ok, expiration);
      if (ok) {
        spdlog::debug("credentials_refreshed expires={}",
                      expiration ? format_rfc3339(*expiration) : std::string("never"));
      } else if (metrics->credential_refreshes() > 0) {  // keys were fetched before
        // The reason reaches requests once the keys in use expire; say it now.
        spdlog::warn("credentials: refresh failed ({}); the keys in use are kept until they expire "
                     "(kms_proxy_credential_refresh_failures_total)",
                     reason);
      } else {
        spdlog::warn("credentials: fetching credentials failed ({}); requests are answered with "
                     "KMSProxyCredentialsException until a fetch succeeds "
                     "(kms_proxy_credential_refresh_failures_total)",
                     reason);
      }
    };
    co.cache.on_warning = [](const std::string& message) { spdlog::warn("credentials: {}", message); };
    auto chain = credentials::make_default_chain(std::move(co));
    if (!chain) {
      add_problem(problems, chain.error());
    } else {
      d->chain = std::move(*chain);
      d->credentials = d->chain.provider;
      for (const auto& w : d->chain.warnings) {
        spdlog::warn("{}", w);
      }
      if (d->chain.expiration) {
        d->metrics.credential_expiry(*d->chain.expiration);
      }
      // The source chosen is the one every request will use: if the egress
      // policy refuses its host, no request could ever be signed.
      if (const std::string& host = d->chain.endpoint_host;
          egress_enforced && !host.empty() && !net::is_loopback_host(host)) {
        if (const auto decision = egress_policy->decide(host); !decision.allowed) {
          problems.push_back("credentials: " + std::string(credentials::source_kind_name(d->chain.kind)) +
                             " credentials come from " + host + ", which the egress policy refuses: " +
                             config::refusal_reason(host, decision));
        }
      }
    }
  }

  // 5. Region from IMDS when nothing else names one (requests signed with a
  //    region in their scope do not need it).
  if (!d->cfg.upstream.default_region && d->chain.imds) {
    auto fut = boost::asio::co_spawn(d->pool->next(), d->chain.imds->region(), boost::asio::use_future);
    if (fut.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
      if (auto region = fut.get()) {
        d->cfg.upstream.default_region = *region;
        spdlog::info("region from IMDS: {}", *region);
      } else {
        spdlog::warn("no default region (set --region or AWS_REGION; requests signed for a region do not "
                     "need one): the instance metadata service could not say: {}",
                     region.error().message);
      }
    }
  }

  d->upstream = std::make_unique<net::UpstreamClient>(*d->pool, uo);
  if (auto ready = d->upstream->ready(); !ready) {
    add_problem(problems, ready.error());
  }

  if (keygen.valid()) {
    auto key = keygen.get();
    if (!key) {
      add_problem(problems, key.error());
    } else {
      d->key = std::make_unique<crypto::RsaKeyPair>(std::move(*key));
    }
  }
  if (d->nsm_device && d->key) {
    d->nsm = std::make_unique<attestation::NsmClient>(d->nsm_device);
    auto* nsm = d->nsm.get();
    proxy::AttestationSourceOptions ao;
    ao.max_age = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.attestation.max_age);
    ao.timeout = cfg.attestation.timeout;
    ao.background_worker = cfg.attestation.mode == config::AttestationMode::kSimulated;
    d->attestation = std::make_unique<proxy::AttestationSource>(
        [nsm](ByteView public_key) {
          attestation::AttestationRequest req;
          req.public_key = Bytes(public_key.begin(), public_key.end());
          return nsm->attestation(req);
        },
        d->key->spki_der(), ao);
  }

  if (!problems.empty()) {
    return joined(problems);
  }

  // 5. The request path and the listener.
  proxy::HandlerDeps deps;
  deps.upstream = d->upstream.get();
  deps.credentials = d->credentials.get();
  deps.attestation = d->attestation.get();
  deps.key = d->key.get();
  deps.metrics = &d->metrics;
  deps.skew = &d->skew;
  deps.stopping = &d->stopping;
  d->handler = std::make_unique<proxy::ProxyHandler>(proxy::HandlerOptions{d->cfg.upstream}, deps);

  net::ServerOptions so;
  so.host = cfg.listen.host;
  so.port = cfg.listen.port;
  so.max_connections = cfg.listen.max_connections;
  so.max_header_bytes = cfg.listen.max_header_bytes;
  so.max_body_bytes = cfg.listen.max_body_bytes;
  so.header_read_timeout = cfg.listen.timeouts.header;
  so.body_read_timeout = cfg.listen.timeouts.body;
  so.idle_keepalive_timeout = cfg.listen.timeouts.idle;
  // The listener's own answers get a line like the handler's (fixed reasons).
  so.make_request_id = [] { return crypto::random_uuid(); };
  so.on_local_error = [](unsigned status, std::string_view message, std::string_view request_id) {
    if (status == 500) {  // the handler failed: a bug, not the client's doing
      spdlog::error("internal_error status={} reason={} request_id={}", status, message, request_id);
    } else if (status == 503) {  // cut at the end of the shutdown grace
      spdlog::warn("request_cut status={} reason={} request_id={}", status, message, request_id);
    } else {
      spdlog::info("client_error status={} reason={} request_id={}", status, message, request_id);
    }
  };
  so.on_rejected = [log = std::make_shared<RefusalLog>(d->pool->context(0).get_executor(),
                                                      cfg.listen.max_connections)] { log->refused(); };
  so.write_timeout = cfg.listen.timeouts.write;
  auto* handler = d->handler.get();
  d->server = std::make_unique<net::HttpServer>(
      *d->pool, so, [handler](HttpRequest req) { return handler->handle(std::move(req)); });

  if (cfg.metrics.listen) {
    net::ServerOptions mo;
    mo.host = cfg.metrics.listen->host;
    mo.port = cfg.metrics.listen->port;
    mo.max_connections = 64;
    auto* metrics = &d->metrics;
    auto* server = d->server.get();
    auto* attestation = d->attestation.get();
    auto* upstream = d->upstream.get();
    std::string info_labels = "version=\"0.1.0\",attestation=\"";
    switch (cfg.attestation.mode) {
      case config::AttestationMode::kNsm: info_labels += "nsm\""; break;
      case config::AttestationMode::kSimulated: info_labels += "simulated\""; break;
      case config::AttestationMode::kNone: info_labels += "none\""; break;
    }
    d->metrics_server = std::make_unique<net::HttpServer>(
        *d->pool, mo,
        [metrics, server, attestation, upstream,
         info_labels](HttpRequest req) -> boost::asio::awaitable<HttpResponse> {
          HttpResponse r;
          const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
          if (req.method != "GET" && req.method != "HEAD") {
            r.status = 405;
            r.headers.set("Allow", "GET, HEAD");
          } else if (path == "/metrics") {
            r.headers.set("Content-Type", "text/plain; version=0.0.4");
            r.body = metrics->render();
            auto sample = [&r](std::string_view type, std::string_view name, std::string_view help,
                               std::uint64_t v) {
              r.body += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " +
                        std::string(name) + " " + std::string(type) + "\n" + std::string(name) + " " +
                        std::to_string(v) + "\n";
            };
            auto counter = [&sample](std::string_view name, std::string_view help, std::uint64_t v) {
              sample("counter", name, help, v);
            };
            r.body += "# HELP kms_proxy_info The proxy's version and attestation mode.\n"
                      "# TYPE kms_proxy_info gauge\nkms_proxy_info{" + info_labels + "} 1\n";
            const auto st = server->stats();
            sample("gauge", "kms_proxy_active_connections", "Client connections open now.", st.active_connections);
            // What never reaches requests_total: refused connections and requests
            // the listener answered itself.
            counter("kms_proxy_connections_accepted_total", "Client connections accepted.",
                    st.accepted_connections);
            counter("kms_proxy_connections_rejected_total",
                    "Client connections refused with 503 (over limits.max_connections).", st.rejected_connections);
            counter("kms_proxy_client_errors_total",
                    "Requests the listener answered itself: malformed (400), stalled (408), too large (413, 431).",
                    st.local_errors);
            counter("kms_proxy_internal_errors_total",
                    "Requests answered 500 because the proxy failed (a bug: each has an internal_error "
                    "log line).",
                    st.handler_exceptions);
            counter("kms_proxy_client_timeouts_total",
                    "Client connections cut by a deadline: TLS handshake, header, body or write (a stalled request also gets 408; idle keep-alive closes are not counted).",
                    st.timeouts);
            // Attested requests per NSM call = attested_requests_total / nsm_calls_total
            // (coalescing and attestation.max_age make it exceed 1 under load).
            const auto a = attestation != nullptr ? attestation->stats() : proxy::AttestationStats{};
            counter("kms_proxy_nsm_calls_total", "NSM attestation calls.", a.nsm_calls);
            counter("kms_proxy_nsm_failures_total", "Failed NSM attestation calls.", a.nsm_failures);
            counter("kms_proxy_attested_requests_total",
                    "Requests served an attestation document (divide by nsm_calls_total for requests "
                    "per NSM call).",
                    a.requests_served);
            sample("gauge", "kms_proxy_attestation_waiting",
                   "Requests waiting for an attestation document now (a request leaves the queue when "
                   "attestation.timeout expires).",
                   a.waiting);
            const auto u = upstream->stats();
            counter("kms_proxy_upstream_connections_opened_total", "Upstream connections opened.", u.opened);
            counter("kms_proxy_upstream_connections_reused_total", "Requests sent on a pooled connection.",
                    u.reused);
            counter("kms_proxy_upstream_retries_total", "Stale pooled connections retried.", u.retries);
          } else if (path == "/healthz" || path == "/readyz") {
            r.headers.set("Content-Type", "text/plain");
            r.body = "ok\n";
          } else {
            r.status = 404;
          }
          co_return r;
        });
  }

  d->description = mode_line + " upstream_path=" + path_line + " credentials=" +
                   (d->extras.credentials ? std::string("injected") : d->chain.description) +
                   " io_threads=" + std::to_string(d->pool->size());
  if (cfg.io.busy_poll.count() > 0) {
    d->description += " busy_poll_us=" + std::to_string(cfg.io.busy_poll.count());
  }
  if (d->key) {
    d->description += " public_key_sha256=" + hex_encode(d->key->spki_sha256());
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(d)));
}

Result<std::uint16_t> Daemon::start() {
  auto& d = *impl_;
  ensure_descriptor_room(d.cfg.listen.max_connections);
  // Both listeners are tried so that both failures are reported at once.
  auto port = d.server->start();
  std::optional<Result<std::uint16_t>> mport;
  if (d.metrics_server) {
    mport = d.metrics_server->start();
  }
  if (!port || (mport && !*mport)) {
    std::vector<Error> failed;
    if (port) {
      d.server->shutdown();
    } else {
      failed.push_back(port.error());
    }
    if (mport && *mport) {
      d.metrics_server->shutdown();
    } else if (mport) {
      failed.push_back(Error{mport->error().code, "metrics_listen: " + mport->error().message});
    }
    if (failed.size() == 1) {
      return failed.front();
    }
    return Error{failed.front().code, failed.front().message + "\n" + failed.back().message};
  }
  d.port = *port;
  // Where the listeners are. A port chosen by the system (0 configured) can
  // be learned only here, so its line also shows when info lines are off.
  const auto where_level = [&d](bool ephemeral) {
    return ephemeral && d.extras.announce_chosen_ports && !spdlog::should_log(spdlog::level::info)
               ? spdlog::level::warn
               : spdlog::level::info;
  };
  if (mport) {
    spdlog::log(where_level(d.cfg.metrics.listen->port == 0), "metrics listen={}",
                config::format_authority(d.cfg.metrics.listen->host, **mport));
  }
  // The process holds the enclave's decryption key: no core dumps, no ptrace
  // by same-uid processes while serving.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  d.started = true;
  if (d.chain.cache) {  // not for injected or environment credentials: they do not expire
    const auto period = std::clamp<std::chrono::seconds>(d.cfg.credentials.refresh_margin / 5, std::chrono::seconds(1),
                                                         std::chrono::seconds(60));
    boost::asio::co_spawn(d.pool->next(), keep_credentials_fresh(d.chain.cache, period), boost::asio::detached);
  }
  spdlog::info("{}", d.description);
  if (d.cfg.attestation.mode == config::AttestationMode::kSimulated) {
    spdlog::warn("SIMULATED ATTESTATION: this is not a Nitro Enclave; KMS will reject these documents");
  }
  spdlog::log(where_level(d.cfg.listen.port == 0), "ready listen={}",
              config::format_authority(d.cfg.listen.host, d.port));
  return d.port;
}

bool Daemon::stop(std::optional<std::chrono::milliseconds> grace) {
  auto& d = *impl_;
  if (!d.started) {
    return true;
  }
  d.started = false;
  // Requests cut from here on are the proxy's doing (503), not clients that
  // left (499): marked when the grace runs out, just before the cut.
  const bool drained = d.server->shutdown(grace.value_or(net::ServerOptions{}.shutdown_grace),
                                          [&d] { d.stopping = true; });
  if (d.metrics_server) {
    d.metrics_server->shutdown();
  }
  d.upstream->close_idle();
  d.pool->stop();
  d.pool->join();
  spdlog::info("stopped drained={}", drained);
  return drained;
}

std::uint16_t Daemon::port() const noexcept { return impl_->port; }
const std::string& Daemon::description() const noexcept { return impl_->description; }

}  // namespace kp::app
