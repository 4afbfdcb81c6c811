// The page's files embedded by cmake/EmbedAssets.cmake: what find_asset serves, and that nothing
// but those exact paths reaches a file.
#include <gtest/gtest.h>

#include "www/assets.hpp"

namespace {

using ym::www::find_asset;

TEST(Assets, RootAndIndexAreThePage) {
  const auto* root = find_asset("/");
  const auto* index = find_asset("/index.html");
  ASSERT_NE(root, nullptr);
  ASSERT_EQ(root, index);
  EXPECT_EQ(index->path, "/index.html");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<!DOCTYPE html>"), std::string_view::npos);
  EXPECT_NE(index->body.find("app.js"), std::string_view::npos);
}

TEST(Assets, ScriptAndStyleHaveTheirTypes) {
  const auto* js = find_asset("/app.js");
  ASSERT_NE(js, nullptr);
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("EventSource"), std::string_view::npos);
  const auto* css = find_asset("/style.css");
  ASSERT_NE(css, nullptr);
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
  EXPECT_FALSE(css->body.empty());
}

TEST(Assets, OtherPathsFindNothing) {
  for (std::string_view path :
       {"", "index.html", "/index.htm", "/INDEX.HTML", "/api/v2/builds", "/static/app.js",
        "/../CMakeLists.txt", "/static/../index.html", "%2e%2e/", "/%2e%2e/index.html",
        "//etc/passwd", "/index.html%00", "/index.html/", "/./index.html", "/index.html?x=1", "//",
        "/app.js\\"}) {
    EXPECT_EQ(find_asset(path), nullptr) << path;
  }
  // A NUL inside the view must not end the comparison early.
  EXPECT_EQ(find_asset(std::string_view("/index.html\0x", 13)), nullptr);
}

}  // namespace
