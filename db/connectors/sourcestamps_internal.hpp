// Internal to db/ and fake/: what the SQL source stamps, the fake and their users (buildsets,
// changes) share so that they accept the same input and store patches the same way: the checks
// on a SourceStampSpec and the base64 coding of patch bodies (patches.patch_base64).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "db/base.hpp"
#include "db/connectors/sourcestamps.hpp"
#include "db/errors.hpp"

namespace ym::db::internal {

// Throws InvalidArgument unless `value` is well-formed UTF-8: text columns must read back as
// text on every backend, and PostgreSQL refuses ill-formed bytes outright.
inline void check_utf8(std::string_view what, std::string_view value) {
  if (!is_valid_utf8(value)) throw InvalidArgument(std::string(what) + " is not valid UTF-8");
}

// Checks a spec before anything is written: ValueTooLong for a field longer than its column,
// InvalidArgument for text that is not UTF-8. The patch body is bytes and is not checked.
inline void check_source_stamp_spec(const SourceStampSpec& spec) {
  auto text = [](const char* column, std::string_view value) {
    check_utf8(std::string("source stamp ") + column, value);
    check_length("sourcestamps", column, value);
  };
  if (spec.branch) text("branch", *spec.branch);
  if (spec.revision) text("revision", *spec.revision);
  text("repository", spec.repository);
  text("project", spec.project);
  text("codebase", spec.codebase);
  // Buildbot's patch columns are NOT NULL and it passes None through (an IntegrityError): a
  // patch needs its level, author and comment.
  if (spec.patch_body && (!spec.patch_level || !spec.patch_author || !spec.patch_comment)) {
    throw InvalidArgument("a source stamp's patch needs its level, author and comment");
  }
  if (spec.patch_author) check_utf8("patch author", *spec.patch_author);
  if (spec.patch_comment) check_utf8("patch comment", *spec.patch_comment);
  if (spec.patch_subdir) check_utf8("patch subdir", *spec.patch_subdir);
}

// Standard base64 (RFC 4648, with padding), as Buildbot stores patch bodies.
inline std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    if (rest == 2) n |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Decodes base64, skipping whitespace (hand-written rows may wrap lines). Throws
// InvalidArgument naming `what` on any other character or a truncated quantum.
inline std::string base64_decode(std::string_view text, std::string_view what) {
  auto bad = [&] {
    return InvalidArgument("stored " + std::string(what) + " is not valid base64");
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0, pad = 0;
  for (char ch : text) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '+') {
      v = 62;
    } else if (ch == '/') {
      v = 63;
    } else if (ch == '=') {
      ++pad;
      continue;
    } else if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
      continue;
    } else {
      throw bad();
    }
    if (pad) throw bad();  // data after padding
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6 || pad > 2) throw bad();
  return out;
}

}  // namespace ym::db::internal
