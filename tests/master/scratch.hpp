// A scratch directory per test for the command-line and master tests: under $YM_TEST_TMPDIR
// (or the system's temporary directory), named after the test, and kept when the test failed so
// that its databases and logs can be looked at.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

// (Its own namespace: tests/migrate/fixture.hpp has a different ym::test::Scratch in the same
// test binary.)
namespace ym::test::master_tests {

class Scratch {
 public:
  // `prefix` names the suite's directories ("ym-master", "ym-cli").
  explicit Scratch(const std::string& prefix) {
    const char* base = std::getenv("YM_TEST_TMPDIR");
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "-" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    dir_ = std::filesystem::path(base ? base : std::filesystem::temp_directory_path().string()) /
           (prefix + "-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~Scratch() {
    if (!testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::filesystem::path path(const std::string& name) const { return dir_ / name; }
  std::string url(const std::string& name) const { return "sqlite:///" + path(name).string(); }

 private:
  std::filesystem::path dir_;
};

}  // namespace ym::test::master_tests
