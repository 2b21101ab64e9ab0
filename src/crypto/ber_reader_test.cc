#include "crypto/ber_reader.h"

#include <gtest/gtest.h>

#include <random>

#include "base/encoding.h"

namespace kp::crypto::ber {
namespace {

Bytes hex(std::string_view h) { return *hex_decode(h); }

TEST(BerReader, DefiniteSequence) {
  const Bytes in = hex("3007020102" "04020a0b");
  Reader r(in);
  auto seq = r.next();
  ASSERT_TRUE(seq) << seq.error().message;
  EXPECT_EQ(seq->tag, kSequence);
  EXPECT_FALSE(seq->indefinite);
  EXPECT_TRUE(r.at_end());
  Reader c = r.enter(*seq);
  auto i = c.next();
  ASSERT_TRUE(i);
  EXPECT_EQ(i->tag, kInteger);
  EXPECT_EQ(i->offset, 2u);
  EXPECT_EQ(Bytes(i->content.begin(), i->content.end()), hex("02"));
  auto o = c.next();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->offset, 5u);
  EXPECT_EQ(Bytes(o->content.begin(), o->content.end()), hex("0a0b"));
  EXPECT_TRUE(c.at_end());
}

TEST(BerReader, IndefiniteLengthsNest) {
  // SEQ(indef) { [0](indef) { OCTET STRING "ab" } INTEGER 5 } + trailing INTEGER
  const Bytes in = hex("3080" "a080" "04026162" "0000" "020105" "0000" "020107");
  Reader r(in);
  auto seq = r.next();
  ASSERT_TRUE(seq) << seq.error().message;
  EXPECT_TRUE(seq->indefinite);
  EXPECT_EQ(seq->content.size(), 11u);  // without its own end-of-contents
  auto tail = r.next();
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->offset, 15u);
  EXPECT_TRUE(r.at_end());

  Reader c = r.enter(*seq);
  auto ctx = c.next();
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->tag, context_constructed(0));
  EXPECT_TRUE(ctx->indefinite);
  Reader cc = c.enter(*ctx);
  auto os = cc.next();
  ASSERT_TRUE(os);
  EXPECT_EQ(as_chars(os->content), "ab");
  EXPECT_TRUE(cc.at_end());
  auto i = c.next();
  ASSERT_TRUE(i);
  EXPECT_EQ(i->offset, 10u);
  EXPECT_TRUE(c.at_end());
}

TEST(BerReader, LongFormLengths) {
  Bytes in = hex("04820100");
  in.resize(4 + 256, 0x5a);
  Reader r(in);
  auto e = r.next();
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->content.size(), 256u);
  // BER permits non-minimal length encodings.
  const Bytes nm = hex("0481020102");
  Reader r2(nm);
  auto e2 = r2.next();
  ASSERT_TRUE(e2) << e2.error().message;
  EXPECT_EQ(e2->content.size(), 2u);
}

struct BadCase {
  const char* hex;
  const char* needle;
};

TEST(BerReader, RejectsMalformed) {
  const BadCase cases[] = {
      {"", "expected an element"},
      {"30", "missing length"},
      {"308201", "incomplete length"},
      {"300501", "claims 5 content bytes but only 1 remain"},
      {"0480", "indefinite length on a primitive"},
      {"3080020101", "missing end-of-contents"},
      {"30800001", "malformed end-of-contents"},
      {"1f0100", "high-tag-number"},
      {"30850000000001", "too large"},
      {"30ff", "too large"},
      {"0000", "unexpected end-of-contents"},
  };
  for (const auto& c : cases) {
    const Bytes in = hex(c.hex);
    Reader r(in);
    auto e = r.next();
    ASSERT_FALSE(e) << c.hex;
    EXPECT_EQ(e.error().code, Errc::kCmsInvalid);
    EXPECT_NE(e.error().message.find(c.needle), std::string::npos) << c.hex << ": " << e.error().message;
    EXPECT_NE(e.error().message.find("offset"), std::string::npos) << e.error().message;
  }
}

TEST(BerReader, IndefiniteNestingIsBounded) {
  Bytes in;
  for (int i = 0; i < 100000; ++i) {
    in.push_back(0x30);
    in.push_back(0x80);
  }
  in.resize(in.size() + 200000, 0x00);
  Reader r(in);
  auto e = r.next();
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("nesting deeper"), std::string::npos) << e.error().message;
}

TEST(BerReader, DefiniteNestingIsBounded) {
  // 100 nested definite SEQUENCEs; walking down must stop at kMaxDepth.
  Bytes in;
  for (int i = 0; i < 100; ++i) {
    in.insert(in.begin(), {0x30, static_cast<std::uint8_t>(in.size())});
    if (in.size() > 120) {
      break;
    }
  }
  Reader r(in);
  bool failed = false;
  for (unsigned depth = 0; depth < 200; ++depth) {
    auto e = r.next();
    if (!e) {
      failed = true;
      EXPECT_NE(e.error().message.find("nesting deeper"), std::string::npos) << e.error().message;
      break;
    }
    if (e->content.empty()) {
      break;
    }
    r = r.enter(*e);
  }
  EXPECT_TRUE(failed);
}

// Walks every element recursively; must terminate without touching memory
// outside the input (run under ASan in CI).
std::size_t walk(Reader r, int budget) {
  std::size_t n = 0;
  while (!r.at_end() && budget-- > 0) {
    auto e = r.next();
    if (!e) {
      return n;
    }
    ++n;
    EXPECT_LE(e->content.size(), 4096u);
    if (e->constructed()) {
      n += walk(r.enter(*e), budget);
    }
  }
  return n;
}

TEST(BerReader, RandomInputNeverCrashes) {
  std::mt19937 rng(12345);
  const std::uint8_t alphabet[] = {0x00, 0x02, 0x04, 0x24, 0x30, 0x31, 0x80, 0x81, 0x82, 0xa0, 0x05, 0xff};
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes in(rng() % 64);
    for (auto& b : in) {
      b = (rng() & 1) ? alphabet[rng() % sizeof alphabet] : static_cast<std::uint8_t>(rng());
    }
    walk(Reader(in), 1000);
  }
  SUCCEED();
}

}  // namespace
}  // namespace kp::crypto::ber
