#include <gtest/gtest.h>

#include "db/base.hpp"
#include "db/drivers/driver.hpp"
#include "db/errors.hpp"

namespace ym::db {
namespace {

TEST(Identifier, Rules) {
  EXPECT_TRUE(is_identifier("a", 50));
  EXPECT_TRUE(is_identifier("linux-gcc_12", 50));
  EXPECT_TRUE(is_identifier("_x", 50));
  EXPECT_FALSE(is_identifier("", 50));
  EXPECT_FALSE(is_identifier("1abc", 50));
  EXPECT_FALSE(is_identifier("a b", 50));
  EXPECT_FALSE(is_identifier("a.b", 50));
  EXPECT_FALSE(is_identifier("caf\xC3\xA9", 50));
  EXPECT_TRUE(is_identifier(std::string(20, 'a'), 20));
  EXPECT_FALSE(is_identifier(std::string(21, 'a'), 20));
  try {
    check_identifier("builder name", "1abc", 20);
    FAIL();
  } catch (const InvalidIdentifier& e) {
    EXPECT_NE(std::string(e.what()).find("starts with a digit"), std::string::npos);
  }
}

TEST(Utf8, LengthValidationAndSanitizing) {
  EXPECT_EQ(utf8_length("h\xC3\xA9llo"), 5u);
  EXPECT_TRUE(is_valid_utf8("\xE2\x9C\x93 ok"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xE2\x9C"));          // truncated
  EXPECT_EQ(sanitize_utf8("a\xffz"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(sanitize_utf8("ok"), "ok");
}

TEST(CheckLength, CountsCharactersAgainstTheModel) {
  EXPECT_NO_THROW(check_length("workers", "name", std::string(50, 'w')));
  EXPECT_THROW(check_length("workers", "name", std::string(51, 'w')), ValueTooLong);
  std::string wide;
  for (int i = 0; i < 50; ++i) wide += "\xC3\xA9";  // 50 characters, 100 bytes
  EXPECT_NO_THROW(check_length("workers", "name", wide));
  EXPECT_NO_THROW(check_length("masters", "name", std::string(5000, 'x')));  // text: no limit
}

TEST(HashColumns, MatchesTheReferenceDefinition) {
  // Expected digests computed independently: sha1 over the NUL-joined encodings, null as 0xf5.
  EXPECT_EQ(hash_columns({std::string("master")}), "4f26aeafdb2367620a393c973eddbe8f8b846ebd");
  EXPECT_EQ(hash_columns({nullptr, std::string("caf\xC3\xA9"), int64_t{42}, int64_t{-7}}),
            "4147eaec2f04cd376b3bc80a25bb4215ba0d38bb");
  EXPECT_EQ(hash_columns({std::string("")}), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hash_columns({nullptr}), "c66be7210915f39e91456fc2eac9441012a0a3ea");
  EXPECT_NE(hash_columns({nullptr}), hash_columns({std::string("")}));
}

TEST(DoBatch, SplitsAtTheLimit) {
  std::vector<int64_t> ids(2500);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i);
  auto batches = do_batch(ids, 999);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 999u);
  EXPECT_EQ(batches[2].size(), 502u);
  EXPECT_EQ(batches[2].back(), 2499);
  EXPECT_TRUE(do_batch(std::vector<int64_t>{}, 10).empty());
  Dialect d;
  d.max_bind_variables = 999;
  EXPECT_EQ(batch_size(d, 1, 0), 999u);
  EXPECT_EQ(batch_size(d, 3, 9), 330u);
  EXPECT_EQ(placeholders(3), "?, ?, ?");
}

}  // namespace
}  // namespace ym::db
