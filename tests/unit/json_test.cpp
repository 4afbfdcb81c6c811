// ym::Json, the JSON value of records (Property::value, Worker::workerinfo): it must behave like
// the nlohmann::json it holds, braces included, so that moving records off nlohmann's full
// header changed no meaning.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "db/json.hpp"
#include "db/types.hpp"

namespace ym::test {
namespace {

using nlohmann::json;

TEST(Json, BracesMeanWhatTheyMeanToNlohmann) {
  Json object = {{"os", "linux"}, {"cores", 8}};
  EXPECT_EQ(object, (json{{"os", "linux"}, {"cores", 8}}));
  EXPECT_TRUE(object->is_object());
  Json pair = {{"a", "b"}};
  EXPECT_TRUE(pair->is_object()) << pair;
  Json array = json::array({1, "two", nullptr});
  EXPECT_TRUE(array->is_array());
  db::Property p{42, "Change"};
  EXPECT_EQ(p.value, 42);
  EXPECT_EQ(p.value, json(42));
  EXPECT_TRUE(p.value->is_number_integer());
}

TEST(Json, DefaultIsNullAndObjectIsEmpty) {
  Json n;
  EXPECT_TRUE(n->is_null());
  EXPECT_EQ(n, json());
  EXPECT_EQ(Json::object(), json::object());
  EXPECT_FALSE(n == Json::object());
}

TEST(Json, CopiesAreIndependentAndMovesKeepTheValue) {
  Json a = json{{"k", 1}};
  Json b = a;
  (*b)["k"] = 2;
  EXPECT_EQ(a, (json{{"k", 1}}));
  EXPECT_EQ(b, (json{{"k", 2}}));
  Json c = std::move(b);
  EXPECT_EQ(c, (json{{"k", 2}}));
  a = c;
  EXPECT_EQ(a, c);
}

TEST(Json, ConvertsToNlohmannAndPrintsItsDump) {
  db::Property p{"caf\xC3\xA9", "s"};
  json j = p.value;
  EXPECT_EQ(j.get<std::string>(), "caf\xC3\xA9");
  json nested = {{"value", p.value}, {"source", p.source}};
  EXPECT_EQ(nested.dump(), "{\"source\":\"s\",\"value\":\"caf\xC3\xA9\"}");
  std::ostringstream out;
  out << Json(json{1, 2});
  EXPECT_EQ(out.str(), "[1,2]");
  EXPECT_TRUE(json(3) == Json(3));  // either side
}

}  // namespace
}  // namespace ym::test
