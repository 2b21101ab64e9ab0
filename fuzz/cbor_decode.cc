// Fuzz target: kp::cbor::decode / decode_prefix on arbitrary bytes, with the
// default limits and with tight ones. Properties checked beyond "no crash,
// no UB, no leak":
//  * a decoded item re-encodes canonically, the encoding decodes again and
//    re-encodes to the same bytes (writer and decoder agree);
//  * decode_prefix consumes at most the input, and decode() succeeds exactly
//    when the prefix is the whole input;
//  * raw_bytes() of every decoded item lies inside the input.
#include <cstddef>
#include <cstdint>

#include "cbor/decoder.h"
#include "cbor/item.h"
#include "cbor/writer.h"
#include "fuzz_util.h"

namespace {

using kp::ByteView;
using kp::cbor::Item;

void check_spans(ByteView input, const Item& item) {
  const ByteView raw = kp::cbor::raw_bytes(input, item);
  KP_FUZZ_CHECK(raw.size() <= input.size());
  if (!raw.empty()) {
    KP_FUZZ_CHECK(raw.data() >= input.data() && raw.data() + raw.size() <= input.data() + input.size());
  }
  (void)kp::cbor::raw_bstr_content(input, item);
  if (const auto* a = item.as_array()) {
    for (const auto& e : *a) {
      check_spans(input, e);
    }
  } else if (const auto* m = item.as_map()) {
    for (const auto& e : *m) {
      check_spans(input, e.key);
      check_spans(input, e.value);
    }
  }
}

void exercise_accessors(const Item& item) {
  (void)item.as_uint();
  (void)item.as_int();
  (void)item.as_negative_raw();
  (void)item.as_float();
  (void)item.as_simple();
  (void)item.find("module_id");
  (void)item.find(std::int64_t{1});
  (void)item.find(std::int64_t{-1});
  (void)Item::type_name(item.type());
}

void round_trip(const Item& item, const kp::cbor::Limits& limits) {
  const kp::Bytes once = kp::cbor::encode(item);
  auto again = kp::cbor::decode(once, limits);
  // Canonical re-encoding never has more items, more depth or longer strings
  // than the input it came from, so it must be accepted under the same limits.
  KP_FUZZ_CHECK(again.has_value());
  KP_FUZZ_CHECK(kp::cbor::encode(*again) == once);
}

void run(ByteView input, const kp::cbor::Limits& limits) {
  auto item = kp::cbor::decode(input, limits);
  auto prefix = kp::cbor::decode_prefix(input, limits);
  if (prefix) {
    KP_FUZZ_CHECK(prefix->consumed <= input.size());
    KP_FUZZ_CHECK(prefix->consumed > 0);
    KP_FUZZ_CHECK(item.has_value() == (prefix->consumed == input.size()));
  } else {
    KP_FUZZ_CHECK(!item.has_value());
  }
  if (!item) {
    KP_FUZZ_CHECK(!item.error().message.empty());
    return;
  }
  check_spans(input, *item);
  exercise_accessors(*item);
  round_trip(*item, limits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  run(input, kp::cbor::Limits{});
  kp::cbor::Limits tight;
  tight.max_depth = 3;
  tight.max_items = 16;
  tight.max_string_bytes = 8;
  tight.max_entries = 4;
  run(input, tight);
  return 0;
}
