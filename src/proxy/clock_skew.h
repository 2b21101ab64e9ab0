// File: proxy/clock_skew.h
// Clock-skew correction for the proxy's SigV4 signatures.
//
// KMS rejects a signature whose X-Amz-Date is more than 5 minutes from its
// own time (400 InvalidSignatureException "Signature expired" / "Signature
// not yet current"). The AWS SDKs correct for a wrong local clock with the
// Date header of KMS's responses; an app behind the proxy cannot, because
// the proxy replaces its signature, and an enclave's clock drifts from the
// parent's. So the proxy does it: every upstream response's Date is compared
// with the corrected clock, a difference of kThreshold or more resets the
// offset, and a request KMS rejected for its time is signed again and sent
// once more (handler.cc).
//
// The Date comes from the configured KMS endpoint, over TLS in production;
// an endpoint that lies about the time can only make signatures fail, which
// it could do anyway. Pure logic (no Asio): unit-tested directly.
#pragma once

#include <chrono>
#include <optional>

#include "base/clock.h"

namespace kp::proxy {

class ClockSkew {
 public:
  /// Well above a Date header's error (1 s resolution plus a round trip) and
  /// well below KMS's 5-minute tolerance, so a drifting clock is corrected
  /// before KMS starts rejecting.
  static constexpr std::chrono::seconds kThreshold{60};

  /// A Date implying a larger correction is ignored: no drift gets there,
  /// and it keeps the corrected clock within years of the machine's (callers
  /// subtract times parsed from input, 1900..2199, from it).
  static constexpr std::chrono::hours kMaxCorrection{24 * 366 * 10};

  /// `base` (the machine's clock) must outlive this object.
  explicit ClockSkew(const Clock& base) : clock_(base) {}

  /// The corrected clock: sign with this.
  const Clock& clock() const noexcept { return clock_; }
  /// The machine's own clock.
  const Clock& machine() const noexcept { return clock_.base(); }
  std::chrono::milliseconds offset() const noexcept { return clock_.offset(); }

  struct Change {
    std::chrono::milliseconds from;
    std::chrono::milliseconds to;
  };
  /// A response's Date header (already parsed). When the corrected clock is
  /// kThreshold or more away from it, the offset becomes the difference
  /// between the Date (middle of its second) and the machine's clock, and the
  /// change is returned (unless beyond kMaxCorrection). Also brings the
  /// offset back towards zero when the machine's clock was fixed.
  std::optional<Change> observe(SysTime server_date) noexcept;

  /// Whether a request signed at `signed_at` was far enough from the server's
  /// time for its signature to be refused on time grounds (and so worth
  /// signing again once the offset is corrected).
  static bool signed_far_from(SysTime signed_at, SysTime server_date) noexcept;

 private:
  OffsetClock clock_;
};

}  // namespace kp::proxy
