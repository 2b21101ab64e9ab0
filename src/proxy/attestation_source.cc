#include "proxy/attestation_source.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <iterator>
#include <mutex>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/encoding.h"

namespace kp::proxy {

namespace asio = boost::asio;
using DocResult = Result<std::shared_ptr<const Attestation>>;

namespace {

// A waiting request. The timer doubles as the wake-up event: the worker posts
// the result to the waiter's executor, stores it and cancels the timer.
struct Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::optional<DocResult> result;
  bool gave_up = false;  // timed out; only touched on the waiter's executor
};

}  // namespace

struct AttestationSource::Impl : std::enable_shared_from_this<Impl> {
  Impl(AttestFn f, Bytes pk, AttestationSourceOptions o, const Clock& c)
      : fn(std::move(f)), public_key(std::move(pk)), opts(o), clock(c) {}

  AttestFn fn;
  Bytes public_key;
  AttestationSourceOptions opts;
  const Clock& clock;
  asio::thread_pool worker{1};  // the NSM serves one call at a time anyway

  mutable std::mutex mu;
  bool in_flight = false;
  std::vector<std::shared_ptr<Waiter>> queued;  // waiting for the next call
  std::shared_ptr<const Attestation> last;      // for max_age reuse
  std::uint64_t sequence = 0;
  AttestationStats stats;

  // Called with `mu` held: schedules the next call. Its batch is cut when
  // the worker starts it, not here: the worker may get the CPU only later
  // (the simulated NSM runs at nice 19 behind the I/O threads), and every
  // request that arrives before the call starts still gets a document whose
  // call started after it arrived.
  void start_call_locked() {
    in_flight = true;
    ++stats.nsm_calls;
    const std::uint64_t seq = ++sequence;
    asio::post(worker, [self = shared_from_this(), seq] { self->run_call(seq); });
  }

  void run_call(std::uint64_t seq) {
    std::vector<std::shared_ptr<Waiter>> batch;
    {
      std::lock_guard lock(mu);
      batch = std::move(queued);
      queued.clear();
    }
    const SysTime call_started = clock.now();
    const auto started_steady = std::chrono::steady_clock::now();
    Result<Bytes> r = fn(public_key);
    spdlog::debug("nsm_call seq={} waiting={} took_us={} ok={}", seq, batch.size(),
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                        started_steady)
                      .count(),
                  r.has_value());
    std::optional<DocResult> out;
    if (!r) {
      out.emplace(r.error());
    } else if (auto member = kms::RecipientMember::make(base64_encode(*r)); !member) {
      out.emplace(member.error());  // an empty document: base64 of nothing
    } else {
      sigv4::PrefixedSha256 prefix_hash(member->body_prefix());
      out.emplace(std::make_shared<const Attestation>(Attestation{std::move(*r), std::move(*member),
                                                                  std::move(prefix_hash), call_started,
                                                                  started_steady, seq}));
    }
    {
      std::lock_guard lock(mu);
      in_flight = false;
      if (*out) {
        last = **out;
      } else {
        ++stats.nsm_failures;
      }
      if (!queued.empty()) {
        start_call_locked();
      }
    }
    // One hand-off per executor rather than per waiter: every post from this
    // thread takes the target io_context's lock (contended by its I/O thread)
    // and may wake that thread, and a call serves several waiters per thread.
    std::vector<std::pair<asio::any_io_executor, std::vector<std::shared_ptr<Waiter>>>> by_executor;
    for (auto& w : batch) {
      auto ex = w->timer.get_executor();
      auto it = std::find_if(by_executor.begin(), by_executor.end(),
                             [&](const auto& entry) { return entry.first == ex; });
      if (it == by_executor.end()) {
        by_executor.emplace_back(std::move(ex), std::vector<std::shared_ptr<Waiter>>{});
        it = std::prev(by_executor.end());
      }
      it->second.push_back(std::move(w));
    }
    // Waiters that timed out meanwhile are skipped, and not counted as served.
    for (auto& [ex, waiters] : by_executor) {
      asio::post(ex, [self = shared_from_this(), waiters = std::move(waiters), result = *out]() mutable {
        std::uint64_t served = 0;
        for (auto& w : waiters) {
          if (w->gave_up) {
            continue;
          }
          w->result = result;
          w->timer.cancel();
          ++served;
        }
        if (result && served > 0) {
          std::lock_guard lock(self->mu);
          self->stats.requests_served += served;
        }
      });
    }
  }
};

AttestationSource::AttestationSource(AttestFn fn, Bytes public_key, AttestationSourceOptions opts,
                                     const Clock& clock)
    : impl_(std::make_shared<Impl>(std::move(fn), std::move(public_key), opts, clock)) {
  // The thread that blocks in the NSM call, named for operators and for the
  // benchmark (which moves it off the proxy's core, like the real NSM).
  asio::post(impl_->worker, [background = opts.background_worker] {
    pthread_setname_np(pthread_self(), "kp-nsm");
    if (background) {
      // Linux: a thread id names one thread. Failure only costs priority.
      (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
    }
  });
}

AttestationSource::~AttestationSource() { impl_->worker.join(); }

asio::awaitable<DocResult> AttestationSource::get() {
  auto ex = co_await asio::this_coro::executor;
  auto waiter = std::make_shared<Waiter>(ex);
  // Arm the timer before the waiter becomes visible to the worker. The worker
  // completes us by posting to `ex` (one thread per io_context, or a strand).
  waiter->timer.expires_after(impl_->opts.timeout);
  std::shared_ptr<const Attestation> cached;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->opts.max_age.count() > 0 && impl_->last &&
        std::chrono::steady_clock::now() - impl_->last->started_steady <= impl_->opts.max_age) {
      ++impl_->stats.cache_hits;
      ++impl_->stats.requests_served;
      cached = impl_->last;
    } else {
      impl_->queued.push_back(waiter);
      if (!impl_->in_flight) {
        impl_->start_call_locked();
      }
    }
  }
  if (cached) {
    co_return cached;
  }
  co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (waiter->result) {
    co_return std::move(*waiter->result);
  }
  // Timed out. Still queued (the call in flight hangs and the next has not
  // started): leave the queue, so a hung NSM does not collect every request
  // that arrives meanwhile, and a later call does not start for nobody.
  waiter->gave_up = true;
  {
    std::lock_guard lock(impl_->mu);
    std::erase(impl_->queued, waiter);
  }
  co_return fail(Errc::kNsmTimeout, "attestation: no document from the NSM within " +
                                       std::to_string(impl_->opts.timeout.count()) + " ms");
}

AttestationStats AttestationSource::stats() const {
  std::lock_guard lock(impl_->mu);
  AttestationStats st = impl_->stats;
  st.waiting = impl_->queued.size();
  return st;
}

}  // namespace kp::proxy
