#include "db/value.hpp"

#include <cmath>

#include "db/errors.hpp"

namespace ym::db {

const char* type_name(const Value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "integer";
    case 2: return "double";
    case 3: return "text";
    case 4: return "blob";
  }
  return "?";
}

int64_t FromValue<int64_t>::get(const Value& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(std::llround(*d));
  if (auto* s = std::get_if<std::string>(&v)) {  // some drivers hand back numerics as text
    try {
      size_t used = 0;
      long long n = std::stoll(*s, &used);
      if (used == s->size()) return n;
    } catch (const std::exception&) {
    }
  }
  throw InternalError(std::string("expected an integer column, got ") + type_name(v));
}

double FromValue<double>::get(const Value& v) {
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  throw InternalError(std::string("expected a real column, got ") + type_name(v));
}

std::string FromValue<std::string>::get(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* b = std::get_if<Blob>(&v)) return b->bytes;
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  throw InternalError(std::string("expected a text column, got ") + type_name(v));
}

Blob FromValue<Blob>::get(const Value& v) {
  if (auto* b = std::get_if<Blob>(&v)) return *b;
  if (auto* s = std::get_if<std::string>(&v)) return Blob{*s};
  throw InternalError(std::string("expected a blob column, got ") + type_name(v));
}

}  // namespace ym::db
