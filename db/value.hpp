// The values that cross the driver boundary: what a statement binds and what a row holds.
// Rows are materialised (no driver object escapes a database thread), and read by column with
// typed accessors that convert the stored representation (e.g. 0/1 to bool, epoch to time).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace ym {

using Timestamp = std::chrono::sys_seconds;

namespace db {

// Raw bytes; distinct from text so that drivers bind them as BLOB / bytea.
struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};

using Value = std::variant<std::nullptr_t, int64_t, double, std::string, Blob>;

inline Value to_value(std::nullptr_t) { return nullptr; }
inline Value to_value(bool b) { return int64_t{b ? 1 : 0}; }
template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
Value to_value(I i) {
  return static_cast<int64_t>(i);
}
inline Value to_value(double d) { return d; }
inline Value to_value(std::string s) { return s; }
inline Value to_value(std::string_view s) { return std::string(s); }
inline Value to_value(const char* s) { return std::string(s); }
inline Value to_value(Blob b) { return b; }
inline Value to_value(Timestamp t) { return static_cast<int64_t>(t.time_since_epoch().count()); }
inline Value to_value(Value v) { return v; }
template <class T>
Value to_value(const std::optional<T>& o) {
  return o ? to_value(*o) : Value(nullptr);
}

// A short description of a value's type, for error messages.
const char* type_name(const Value& v);

// Conversions from a stored value; throw InternalError when the column holds something else.
template <class T>
struct FromValue;

template <>
struct FromValue<int64_t> {
  static int64_t get(const Value& v);
};
template <>
struct FromValue<int> {
  static int get(const Value& v) { return static_cast<int>(FromValue<int64_t>::get(v)); }
};
template <>
struct FromValue<bool> {
  static bool get(const Value& v) { return FromValue<int64_t>::get(v) != 0; }
};
template <>
struct FromValue<double> {
  static double get(const Value& v);
};
template <>
struct FromValue<std::string> {
  static std::string get(const Value& v);
};
template <>
struct FromValue<Blob> {
  static Blob get(const Value& v);
};
template <>
struct FromValue<Timestamp> {
  static Timestamp get(const Value& v) { return Timestamp(std::chrono::seconds(FromValue<int64_t>::get(v))); }
};
template <class T>
struct FromValue<std::optional<T>> {
  static std::optional<T> get(const Value& v) {
    if (std::holds_alternative<std::nullptr_t>(v)) return std::nullopt;
    return FromValue<T>::get(v);
  }
};

class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  size_t size() const { return values_.size(); }
  const Value& operator[](size_t i) const { return values_.at(i); }
  bool is_null(size_t i) const { return std::holds_alternative<std::nullptr_t>(values_.at(i)); }
  template <class T>
  T get(size_t i) const {
    return FromValue<T>::get(values_.at(i));
  }
  const std::vector<Value>& values() const { return values_; }

 private:
  std::vector<Value> values_;
};

struct Result {
  std::vector<std::string> columns;
  std::vector<Row> rows;
  bool empty() const { return rows.empty(); }
  size_t size() const { return rows.size(); }
  auto begin() const { return rows.begin(); }
  auto end() const { return rows.end(); }
};

}  // namespace db
}  // namespace ym
