#include "proxy/metrics.h"

#include <fmt/format.h>

#include "kms/operations.h"

namespace kp::proxy {

namespace detail {

std::size_t metric_shard() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kMetricShards;
  return shard;
}

}  // namespace detail

void Histogram::observe(std::chrono::nanoseconds d) noexcept {
  const double s = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) {
    ++i;
  }
  Shard& shard = shards_[detail::metric_shard()];
  shard.buckets[i].fetch_add(1, std::memory_order_relaxed);
  shard.sum_ns.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  std::uint64_t cumulative = 0;
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t sum_ns = 0;
  for (const Shard& s : shards_) {
    sum_ns += s.sum_ns.load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    for (const Shard& s : shards_) {
      cumulative += s.buckets[i].load(std::memory_order_relaxed);
    }
    const std::string le = i < kBounds.size() ? fmt::format("{}", kBounds[i]) : "+Inf";
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cumulative);
  }
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {:.9f}\n", name, braces, static_cast<double>(sum_ns) / 1e9);
  out += fmt::format("{}_count{} {}\n", name, braces, cumulative);
}

void ProxyMetrics::record(std::string_view operation, unsigned status, const PhaseTimes& t) noexcept {
  record(kms::operation_index(operation), status, t);
}

void ProxyMetrics::record(std::size_t operation_index, unsigned status, const PhaseTimes& t) noexcept {
  RequestShard& shard = request_shards_[detail::metric_shard()];
  shard.requests.fetch_add(1, std::memory_order_relaxed);
  const std::size_t op = std::min<std::size_t>(operation_index, kOps - 1);
  const std::size_t cls = (status >= 100 && status < 600) ? status / 100 : 0;
  shard.by_op_status[op][cls].fetch_add(1, std::memory_order_relaxed);
  if (t.attestation.count() > 0) {
    attestation_.observe(t.attestation);
  }
  if (t.upstream.count() > 0) {
    upstream_.observe(t.upstream);
  }
  if (t.decryption.count() > 0) {
    decryption_.observe(t.decryption);
  }
  total_.observe(t.total);
}

std::uint64_t ProxyMetrics::requests_total() const noexcept {
  std::uint64_t n = 0;
  for (const RequestShard& s : request_shards_) {
    n += s.requests.load();
  }
  return n;
}

std::string ProxyMetrics::render() const {
  std::string out;
  out += "# HELP kms_proxy_requests_total Requests answered, by KMS operation and status class.\n";
  out += "# TYPE kms_proxy_requests_total counter\n";
  static constexpr std::string_view kClass[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (std::size_t op = 0; op < kOps; ++op) {
    for (std::size_t c = 0; c < kStatusClasses; ++c) {
      std::uint64_t v = 0;
      for (const RequestShard& s : request_shards_) {
        v += s.by_op_status[op][c].load(std::memory_order_relaxed);
      }
      if (v != 0) {
        out += fmt::format("kms_proxy_requests_total{{operation=\"{}\",status=\"{}\"}} {}\n",
                           kms::operation_name_at(op), kClass[c], v);
      }
    }
  }
  struct H {
    std::string_view phase;
    const Histogram* h;
  };
  out += "# HELP kms_proxy_request_duration_seconds Request latency by phase.\n";
  out += "# TYPE kms_proxy_request_duration_seconds histogram\n";
  for (const H& h : {H{"attestation", &attestation_}, H{"upstream", &upstream_},
                     H{"decryption", &decryption_}, H{"total", &total_}}) {
    h.h->render(out, "kms_proxy_request_duration_seconds", fmt::format("phase=\"{}\"", h.phase));
  }
  out += "# HELP kms_proxy_credential_refreshes_total Successful credential refreshes.\n";
  out += "# TYPE kms_proxy_credential_refreshes_total counter\n";
  out += fmt::format("kms_proxy_credential_refreshes_total {}\n", credential_refreshes_.load());
  out += "# HELP kms_proxy_credential_refresh_failures_total Failed credential refreshes.\n";
  out += "# TYPE kms_proxy_credential_refresh_failures_total counter\n";
  out += fmt::format("kms_proxy_credential_refresh_failures_total {}\n", credential_failures_.load());
  if (const auto expiry = credential_expiry_s_.load(); expiry != 0) {
    out += "# HELP kms_proxy_credentials_expiry_timestamp_seconds When the credentials in use expire "
           "(Unix time; absent for credentials that do not expire). Alert when it comes near while refreshes fail.\n";
    out += "# TYPE kms_proxy_credentials_expiry_timestamp_seconds gauge\n";
    out += fmt::format("kms_proxy_credentials_expiry_timestamp_seconds {}\n", expiry);
  }
  out += "# HELP kms_proxy_clock_offset_seconds Correction added to this machine's clock for SigV4, "
         "learnt from KMS's Date header (0: none needed).\n";
  out += "# TYPE kms_proxy_clock_offset_seconds gauge\n";
  out += fmt::format("kms_proxy_clock_offset_seconds {:.3f}\n",
                     static_cast<double>(clock_offset_ms_.load(std::memory_order_relaxed)) / 1000.0);
  out += "# HELP kms_proxy_clock_skew_retries_total Requests signed again and resent because KMS refused "
         "the signature's time.\n";
  out += "# TYPE kms_proxy_clock_skew_retries_total counter\n";
  out += fmt::format("kms_proxy_clock_skew_retries_total {}\n", clock_skew_retries_.load());
  return out;
}

}  // namespace kp::proxy
