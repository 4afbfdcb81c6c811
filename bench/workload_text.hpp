// The standard workload's fixed data (shared/bench/WORKLOAD.md): builder and step names, and the
// exact log text each append carries, generated the same way as the reference Python driver so
// that stored sizes compare.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ym::bench {

inline const std::vector<std::string> kStepNames = {"checkout", "configure", "compile", "test",
                                                    "upload"};
inline constexpr int kAppendsPerLog = 10;
inline constexpr int kLinesPerAppend = 20;
inline constexpr int kLinesPerLog = kAppendsPerLog * kLinesPerAppend;
inline constexpr int kBuilders = 20;
inline constexpr int kWorkers = 10;
inline constexpr int kBuildersPerBuildset = 4;
inline const std::string kRepo = "https://example.org/repo.git";

// 200 filler strings of 57 characters.
inline const std::vector<std::string>& fillers() {
  static const std::vector<std::string> out = [] {
    static const char* kWords[] = {"gcc", "-O2", "-Wall", "-c", "src/core/sched.c", "-o",
                                   "build/sched.o", "warning:", "unused", "variable", "'tmp'",
                                   "PASSED", "test_claim", "ok", "[100%]", "linking",
                                   "libbench.so", "ld", "-lz", "make[2]:", "Entering",
                                   "directory", "/build/src", "collected", "items"};
    constexpr int kWordCount = sizeof kWords / sizeof kWords[0];
    std::vector<std::string> v;
    for (int i = 0; i < kLinesPerLog; ++i) {
      std::vector<std::string> words;
      int64_t k = i * 7 + 3;
      size_t len = 0;
      while (len < 57) {
        k = (k * 1103515245 + 12345) & 0x7fffffff;
        words.push_back(kWords[k % kWordCount]);
        len += words.back().size() + 1;
      }
      std::string joined;
      for (size_t w = 0; w < words.size(); ++w) joined += (w ? " " : "") + words[w];
      joined = joined.substr(0, 57);
      joined.resize(57, '.');
      v.push_back(joined);
    }
    return v;
  }();
  return out;
}

// Text of the a-th append of step `step` of build request `brid`: 20 lines of 80 characters.
inline std::string log_chunk(int64_t brid, int step, int a) {
  std::string out;
  char prefix[64];
  for (int l = 0; l < kLinesPerAppend; ++l) {
    std::snprintf(prefix, sizeof prefix, "%06lld %-9s %02d:%02d ", static_cast<long long>(brid),
                  kStepNames[step].c_str(), a, l);
    out += prefix;
    out += fillers()[a * kLinesPerAppend + l];
    out += '\n';
  }
  return out;
}

inline std::vector<int> builder_indexes(int i) {
  std::vector<int> out;
  for (int k = 0; k < kBuildersPerBuildset; ++k) out.push_back((i + 5 * k) % kBuilders);
  return out;
}

}  // namespace ym::bench
