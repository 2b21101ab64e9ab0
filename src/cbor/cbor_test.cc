#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "cbor/decoder.h"
#include "cbor/writer.h"

namespace kp::cbor {
namespace {

Bytes H(std::string_view hex) {
  auto b = hex_decode(hex);
  EXPECT_TRUE(b.has_value()) << hex;
  return b.value_or(Bytes{});
}

Result<Item> D(std::string_view hex, const Limits& limits = {}) { return decode(H(hex), limits); }

// RFC 8949 Appendix A: every example whose encoding is the preferred
// (canonical) one; decode then re-encode must give the same bytes.
const char* const kCanonical[] = {
    "00", "01", "0a", "17", "1818", "1819", "1864", "1903e8", "1a000f4240", "1b000000e8d4a51000",
    "1bffffffffffffffff", "c249010000000000000000", "3bffffffffffffffff", "c349010000000000000000",
    "20", "29", "3863", "3903e7",
    // floats
    "f90000", "f98000", "f93c00", "fb3ff199999999999a", "f93e00", "f97bff", "fa47c35000",
    "fa7f7fffff", "fb7e37e43c8800759c", "f90001", "f90400", "f9c400", "fbc010666666666666",
    "f97c00", "f97e00", "f9fc00",
    // simple
    "f4", "f5", "f6", "f7", "f0", "f8ff",
    // tags
    "c074323031332d30332d32315432303a30343a30305a", "c11a514b67b0", "c1fb41d452d9ec200000",
    "d74401020304", "d818456449455446", "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
    // strings
    "40", "4401020304", "60", "6161", "6449455446", "62225c", "62c3bc", "63e6b0b4", "64f0908591",
    // arrays and maps
    "80", "83010203", "8301820203820405",
    "98190102030405060708090a0b0c0d0e0f101112131415161718181819", "a0", "a201020304",
    "a26161016162820203", "826161a161626163", "a56161614161626142616361436164614461656145"};

// Appendix A indefinite-length / non-preferred examples and their canonical twin.
struct Equivalent {
  const char* hex;
  const char* canonical;
};
const Equivalent kEquivalent[] = {
    {"5f42010243030405ff", "450102030405"},
    {"7f657374726561646d696e67ff", "6973747265616d696e67"},
    {"9fff", "80"},
    {"9f018202039f0405ffff", "8301820203820405"},
    {"9f01820203820405ff", "8301820203820405"},
    {"83018202039f0405ff", "8301820203820405"},
    {"83019f0203ff820405", "8301820203820405"},
    {"9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
     "98190102030405060708090a0b0c0d0e0f101112131415161718181819"},
    {"bf61610161629f0203ffff", "a26161016162820203"},
    {"826161bf61626163ff", "826161a161626163"},
    {"bf6346756ef563416d7421ff", "a26346756ef563416d7421"},
    {"fa7f800000", "f97c00"},
    {"fa7fc00000", "f97e00"},
    {"faff800000", "f9fc00"},
    {"fb7ff0000000000000", "f97c00"},
    {"fb7ff8000000000000", "f97e00"},
    {"fbfff0000000000000", "f9fc00"},
    {"1800", "00"},  // non-shortest argument is well-formed
};

TEST(CborAppendixA, CanonicalExamplesRoundTrip) {
  for (const char* hex : kCanonical) {
    auto item = D(hex);
    ASSERT_TRUE(item) << hex << ": " << item.error().message;
    EXPECT_EQ(hex_encode(encode(*item)), hex);
    EXPECT_EQ(item->source_offset(), 0u);
    EXPECT_EQ(item->source_size(), H(hex).size()) << hex;
  }
}

TEST(CborAppendixA, IndefiniteAndNonPreferredDecodeToTheSameItem) {
  for (const auto& e : kEquivalent) {
    auto a = D(e.hex);
    auto b = D(e.canonical);
    ASSERT_TRUE(a) << e.hex << ": " << a.error().message;
    ASSERT_TRUE(b) << e.canonical;
    if (auto f = a->as_float(); f && std::isnan(*f)) {
      EXPECT_TRUE(std::isnan(*b->as_float()));
    } else {
      EXPECT_TRUE(*a == *b) << e.hex;
    }
    EXPECT_EQ(hex_encode(encode(*a)), e.canonical);
  }
}

TEST(CborAppendixA, IntegerValues) {
  EXPECT_EQ(D("00")->as_uint(), 0u);
  EXPECT_EQ(D("17")->as_uint(), 23u);
  EXPECT_EQ(D("1b000000e8d4a51000")->as_uint(), 1000000000000u);
  EXPECT_EQ(D("1bffffffffffffffff")->as_uint(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_FALSE(D("1bffffffffffffffff")->as_int());  // > INT64_MAX
  EXPECT_EQ(D("20")->as_int(), -1);
  EXPECT_EQ(D("3903e7")->as_int(), -1000);
  EXPECT_EQ(D("3bffffffffffffffff")->as_negative_raw(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_FALSE(D("3bffffffffffffffff")->as_int());  // -2^64
  EXPECT_EQ(D("3b7fffffffffffffff")->as_int(), std::numeric_limits<std::int64_t>::min());
  EXPECT_FALSE(D("3b8000000000000000")->as_int());
  auto big = D("c249010000000000000000");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->tags(), std::vector<std::uint64_t>{2});
  EXPECT_EQ(hex_encode(*big->as_bytes()), "010000000000000000");
  EXPECT_FALSE(big->as_uint());
  EXPECT_EQ(hex_encode(encode(Item::integer(std::numeric_limits<std::int64_t>::min()))),
            "3b7fffffffffffffff");
}

TEST(CborAppendixA, FloatValues) {
  struct F {
    const char* hex;
    double v;
  };
  const F cases[] = {{"f90000", 0.0},      {"f93c00", 1.0},      {"fb3ff199999999999a", 1.1},
                     {"f93e00", 1.5},      {"f97bff", 65504.0},  {"fa47c35000", 100000.0},
                     {"fa7f7fffff", 3.4028234663852886e+38},  {"fb7e37e43c8800759c", 1.0e+300},
                     {"f90001", 5.960464477539063e-8},        {"f90400", 0.00006103515625},
                     {"f9c400", -4.0},     {"fbc010666666666666", -4.1}};
  for (const auto& c : cases) {
    EXPECT_EQ(D(c.hex)->as_float(), c.v) << c.hex;
    Writer w;
    w.floating(c.v);
    EXPECT_EQ(hex_encode(w.bytes()), c.hex);
  }
  EXPECT_TRUE(std::signbit(*D("f98000")->as_float()));
  EXPECT_TRUE(std::isinf(*D("f9fc00")->as_float()));
  EXPECT_TRUE(std::isnan(*D("f97e00")->as_float()));
}

TEST(CborAppendixA, StringsSimpleAndTags) {
  EXPECT_EQ(*D("64f0908591")->as_text(), "\xf0\x90\x85\x91");
  EXPECT_EQ(*D("62c3bc")->as_text(), "\xc3\xbc");
  EXPECT_EQ(*D("7f657374726561646d696e67ff")->as_text(), "streaming");
  EXPECT_EQ(hex_encode(*D("5f42010243030405ff")->as_bytes()), "0102030405");
  EXPECT_EQ(D("f4")->as_bool(), false);
  EXPECT_EQ(D("f5")->as_bool(), true);
  EXPECT_TRUE(D("f6")->is_null());
  EXPECT_TRUE(D("f7")->is_undefined());
  EXPECT_EQ(D("f0")->as_simple(), 16);
  EXPECT_EQ(D("f8ff")->as_simple(), 255);
  auto t = D("d82076687474703a2f2f7777772e6578616d706c652e636f6d");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->has_tag(32));
  EXPECT_EQ(*t->as_text(), "http://www.example.com");
  auto nested = D("d820d82101");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->tags(), (std::vector<std::uint64_t>{32, 33}));
  EXPECT_EQ(hex_encode(encode(*nested)), "d820d82101");
}

TEST(CborItem, MapLookupKeepsOrder) {
  auto m = D("a4616201616102200303f6");
  ASSERT_TRUE(m) << m.error().message;
  const auto* entries = m->as_map();
  ASSERT_NE(entries, nullptr);
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ(*(*entries)[0].key.as_text(), "b");
  EXPECT_EQ(*(*entries)[1].key.as_text(), "a");
  EXPECT_EQ(m->find("a")->as_uint(), 2u);
  EXPECT_EQ(m->find("b")->as_uint(), 1u);
  EXPECT_EQ(m->find(-1)->as_uint(), 3u);
  EXPECT_TRUE(m->find(3)->is_null());
  EXPECT_EQ(m->find("c"), nullptr);
  EXPECT_EQ(m->find(7), nullptr);
  EXPECT_EQ(D("01")->find("a"), nullptr);
  // Type mismatches give nullptr/nullopt, never throw.
  EXPECT_EQ(m->as_bytes(), nullptr);
  EXPECT_FALSE(m->as_uint());
  EXPECT_EQ(m->find("a")->as_text(), nullptr);
}

TEST(CborItem, RawBytesOfSubItems) {
  // [h'a1013822', {}, h'00ff', 0] -- COSE-like.
  const Bytes in = H("8444a1013822a04200ff00");
  auto item = decode(in);
  ASSERT_TRUE(item);
  const auto& arr = *item->as_array();
  EXPECT_EQ(hex_encode(raw_bytes(in, arr[0])), "44a1013822");
  EXPECT_EQ(hex_encode(raw_bstr_content(in, arr[0])), "a1013822");
  EXPECT_EQ(hex_encode(raw_bytes(in, arr[1])), "a0");
  EXPECT_EQ(hex_encode(raw_bytes(in, arr[2])), "4200ff");
  EXPECT_TRUE(raw_bstr_content(in, arr[1]).empty());
  EXPECT_EQ(raw_bytes(in, *item).size(), in.size());
  // Indefinite strings are not contiguous: no raw content view.
  const Bytes indef = H("5f42010243030405ff");
  auto s = decode(indef);
  ASSERT_TRUE(s);
  EXPECT_TRUE(raw_bstr_content(indef, *s).empty());
  EXPECT_EQ(raw_bytes(indef, *s).size(), indef.size());
  // Tagged items span the tag.
  const Bytes tagged = H("d28144a1013822");
  auto t = decode(tagged);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->source_size(), tagged.size());
  EXPECT_EQ(hex_encode(raw_bytes(tagged, (*t->as_array())[0])), "44a1013822");
}

TEST(CborDecode, DecodePrefixReportsConsumed) {
  auto p = decode_prefix(H("83010203ffff"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->consumed, 4u);
  EXPECT_FALSE(decode(H("83010203ffff")));
}

void expect_reject(std::string_view hex, std::string_view why, const Limits& limits = {}) {
  auto r = D(hex, limits);
  ASSERT_FALSE(r) << hex << " should be rejected (" << why << ")";
  EXPECT_EQ(r.error().code, Errc::kMalformedRequest);
  EXPECT_NE(r.error().message.find(why), std::string::npos)
      << hex << ": got '" << r.error().message << "', want '" << why << "'";
}

TEST(CborDecode, RejectsMalformedInput) {
  expect_reject("", "unexpected end");
  expect_reject("0000", "trailing");
  for (const char* h : {"1c", "1d", "1e", "3c", "5c", "7c", "9c", "bc", "dc", "fc"}) {
    expect_reject(h, "reserved additional information");
  }
  expect_reject("ff", "break outside");
  expect_reject("81ff", "break outside");
  expect_reject("a1ff00", "break outside");
  expect_reject("bf01ff", "break where a map value");
  expect_reject("d8ffff", "break where a tagged item");
  expect_reject("5f6161ff", "another type");
  expect_reject("7f4161ff", "another type");
  expect_reject("5f01ff", "another type");
  expect_reject("5f5f4101ffff", "nested indefinite");
  expect_reject("5f4101", "unterminated");
  expect_reject("9f01", "unterminated");
  expect_reject("bf0102", "unterminated");
  expect_reject("1f", "indefinite length on an integer");
  expect_reject("3f", "indefinite length on an integer");
  expect_reject("df01", "indefinite length on a tag");
  expect_reject("62c328", "UTF-8");        // bad continuation
  expect_reject("6180", "UTF-8");          // lone continuation
  expect_reject("62c080", "UTF-8");        // overlong NUL
  expect_reject("63eda080", "UTF-8");      // surrogate
  expect_reject("64f4908080", "UTF-8");    // > U+10FFFF
  expect_reject("61ff", "UTF-8");
  expect_reject("7f62c3ff", "UTF-8");      // truncated sequence in a chunk
  expect_reject("7f61c361bcff", "UTF-8");  // a code point split across chunks
  expect_reject("f800", "simple value below 32");
  expect_reject("f81f", "simple value below 32");
  expect_reject("a2010201f6", "duplicate map key");
  expect_reject("a2616101616102", "duplicate map key");
  expect_reject("19", "unexpected end of input in argument");
}

TEST(CborLimits, Depth) {
  auto nested = [](int levels) {
    std::string hex;
    for (int i = 1; i < levels; ++i) {
      hex += "81";
    }
    return hex + "80";
  };
  EXPECT_TRUE(D(nested(16)));
  expect_reject(nested(17), "nesting deeper than 16");
  Limits l;
  l.max_depth = 3;
  EXPECT_TRUE(D(nested(3), l));
  expect_reject(nested(4), "nesting deeper than 3", l);
  expect_reject("c1c1c1c101", "nesting deeper than 3", l);  // tags count
  EXPECT_TRUE(D("c1c1c101", l));
  expect_reject("a101a101a10180", "nesting deeper than 3", l);
  expect_reject("9f9f9f9fffffffff", "nesting deeper than 3", l);
  // Very deep input is rejected without recursing far.
  Bytes deep(100000, 0x81);
  deep.push_back(0x80);
  auto r = decode(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nesting deeper than 16 at offset 16"), std::string::npos)
      << r.error().message;
}

TEST(CborLimits, ItemCount) {
  Limits l;
  l.max_items = 4;
  EXPECT_TRUE(D("83010203", l));
  expect_reject("8401020304", "more than 4 items", l);
  expect_reject("5f41014101410141014101ff", "more than 4 items", l);  // chunks count
  // The default: 4096 items.
  std::string hex = "990fff";  // array of 4095 + the array itself = 4096
  for (int i = 0; i < 4095; ++i) {
    hex += "00";
  }
  EXPECT_TRUE(D(hex));
  expect_reject("9f" + hex.substr(6) + "0000ff", "more than 4096 items");
}

TEST(CborLimits, StringLength) {
  Limits l;
  l.max_string_bytes = 4;
  EXPECT_TRUE(D("4401020304", l));
  expect_reject("450102030405", "longer than 4 bytes", l);
  expect_reject("6568656c6c6f", "longer than 4 bytes", l);
  expect_reject("5f42010243030405ff", "longer than 4 bytes", l);
  // Declared lengths beyond the input fail before any allocation.
  expect_reject("5affffffff00", "exceeds remaining input");
  expect_reject("5bffffffffffffffff", "exceeds remaining input");
  expect_reject("7bffffffffffffffff61", "exceeds remaining input");
  expect_reject("5f5bffffffffffffffffff", "exceeds remaining input");
}

TEST(CborLimits, ContainerEntries) {
  Limits l;
  l.max_entries = 2;
  EXPECT_TRUE(D("820102", l));
  expect_reject("83010203", "exceeds limit 2", l);
  expect_reject("9f010203ff", "exceeds 2 entries", l);
  expect_reject("a3010203040506", "exceeds limit 2", l);
  expect_reject("bf010203040506ff", "exceeds 2 entries", l);
  // Declared counts beyond the input.
  expect_reject("9b00000000ffffffff", "exceeds");
  expect_reject("9a00000fff00", "exceeds remaining input");
  expect_reject("a20102", "exceeds remaining input");  // 2 pairs need >= 4 bytes
}

TEST(CborLimits, LibcborDosInputIsRejectedQuickly) {
  const auto start = std::chrono::steady_clock::now();
  auto r = D("9a9a9a9a4b9a");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("exceeds"), std::string::npos) << r.error().message;
  EXPECT_LT(took, std::chrono::milliseconds(50));
  // Same with generous limits: bounded by the input, not by the limit.
  Limits huge;
  huge.max_entries = std::numeric_limits<std::size_t>::max();
  huge.max_items = std::numeric_limits<std::size_t>::max();
  EXPECT_FALSE(D("9a9a9a9a4b9a", huge));
  EXPECT_FALSE(D("9bffffffffffffffff00", huge));
  EXPECT_FALSE(D("bbffffffffffffffff0000", huge));
}

TEST(CborDecode, TruncationAtEveryOffsetNeverCrashes) {
  std::vector<Bytes> inputs;
  for (const char* hex : kCanonical) {
    inputs.push_back(H(hex));
  }
  for (const auto& e : kEquivalent) {
    inputs.push_back(H(e.hex));
  }
  // A document-like structure with every major type.
  Writer w;
  w.tag(18).array_header(4).bstr(H("a1013822")).map_header(0);
  Writer payload;
  payload.map_header(4).tstr("module_id").tstr("i-0123").tstr("pcrs").map_header(2).uint(0).bstr(
      Bytes(48, 0)).uint(16).bstr(Bytes(48, 1)).tstr("n").negative_raw(99).tstr("f").floating(1.1);
  w.bstr(payload.bytes()).bstr(Bytes(96, 7));
  inputs.push_back(w.bytes());
  inputs.push_back(payload.bytes());
  for (const auto& in : inputs) {
    ASSERT_TRUE(decode(in)) << hex_encode(in);
    for (std::size_t n = 0; n < in.size(); ++n) {
      auto r = decode(ByteView(in).first(n));
      EXPECT_FALSE(r) << "prefix " << n << " of " << hex_encode(in);
    }
  }
}

TEST(CborDecode, BitFlipsNeverCrash) {
  Writer payload;
  payload.map_header(3).tstr("a").array_header(2).uint(1000).bstr(Bytes(20, 3)).tstr("b").tag(1).tstr(
      "x\xc3\xbc").tstr("c").map_header(1).integer(-5).boolean(true);
  const Bytes in = payload.bytes();
  std::size_t rejected = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes m = in;
      m[i] ^= static_cast<std::uint8_t>(1u << bit);
      if (!decode(m)) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0u);
}

TEST(CborWriter, HeadsUseShortestArguments) {
  Writer w;
  w.uint(23).uint(24).uint(255).uint(256).uint(65535).uint(65536).uint(0xffffffffULL).uint(
      0x100000000ULL);
  EXPECT_EQ(hex_encode(w.bytes()),
            "17" "1818" "18ff" "190100" "19ffff" "1a00010000" "1affffffff" "1b0000000100000000");
  Writer n;
  n.integer(-1).integer(-24).integer(-25).integer(-256).integer(-257).negative_raw(
      std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(hex_encode(n.bytes()), "20" "37" "3818" "38ff" "390100" "3bffffffffffffffff");
  Writer s;
  s.bstr(Bytes(24, 0xab)).tstr("").null().boolean(false).boolean(true).undefined().tag(18).array_header(
      0).map_header(25);
  EXPECT_EQ(hex_encode(s.bytes()).substr(0, 4), "5818");
  EXPECT_EQ(hex_encode(s.bytes()).substr(52), "60f6f4f5f7d280b819");
}

TEST(CborWriter, EncodesBuiltItems) {
  Item::Map m;
  m.push_back({Item::text("k"), Item::array({Item::integer(-2), Item::bytes(Bytes{1, 2})})});
  m.push_back({Item::uint(1), Item::null()});
  const Item item = Item::map(std::move(m)).tagged(6);
  const Bytes enc = encode(item);
  EXPECT_EQ(hex_encode(enc), "c6a2616b822142010201f6");
  auto back = decode(enc);
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == item);
}

}  // namespace
}  // namespace kp::cbor
