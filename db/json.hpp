// ym::Json: a JSON value (an nlohmann::json) held by pointer, so that the records that carry
// one (Property::value, Worker::workerinfo) need only nlohmann's forward declarations. Where you
// use the value, include <nlohmann/json.hpp>; then a Json converts to and from nlohmann::json
// implicitly, compares with it and with plain values, and `->` reaches its members:
//
//   db::Property p{42, "Change"};          p.value->is_number()      p.value == 42
//   nlohmann::json j = p.value;            p.value.get().dump()
#pragma once

#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <type_traits>
#include <utility>

NLOHMANN_JSON_NAMESPACE_BEGIN
namespace detail {
template <typename BasicJsonType>
class json_ref;
}  // namespace detail
NLOHMANN_JSON_NAMESPACE_END

namespace ym {

class Json {
 public:
  Json() noexcept;  // null
  static Json object();  // {}
  Json(const nlohmann::json& value);
  Json(nlohmann::json&& value);
  // Braces mean what they mean to nlohmann::json: Json{{"os", "linux"}} is an object.
  Json(std::initializer_list<nlohmann::detail::json_ref<nlohmann::json>> init);
  // Any value nlohmann::json can be built from (numbers, strings, ...).
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, Json> &&
             !std::is_same_v<std::remove_cvref_t<T>, nlohmann::json>)
  Json(T&& value) : Json(to_json(std::forward<T>(value))) {}
  Json(const Json& other);
  Json(Json&& other) noexcept;
  Json& operator=(const Json& other);
  Json& operator=(Json&& other) noexcept;
  ~Json();

  const nlohmann::json& get() const;
  nlohmann::json& get();
  operator const nlohmann::json&() const { return get(); }
  const nlohmann::json& operator*() const { return get(); }
  nlohmann::json& operator*() { return get(); }
  const nlohmann::json* operator->() const { return &get(); }
  nlohmann::json* operator->() { return &get(); }

  friend bool operator==(const Json& a, const Json& b);
  friend bool operator==(const Json& a, const nlohmann::json& b);
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, Json> &&
             !std::is_same_v<std::remove_cvref_t<T>, nlohmann::json>)
  friend bool operator==(const Json& a, const T& b) {
    return a.get() == b;
  }
  friend std::ostream& operator<<(std::ostream& os, const Json& v);  // its dump()

 private:
  template <class T>
  static auto to_json(T&& value) {
    // Dependent on T, so that nlohmann::json need be complete only where this is used.
    using J = std::conditional_t<sizeof(T) != 0, nlohmann::json, void>;
    return J(std::forward<T>(value));
  }
  std::unique_ptr<nlohmann::json> value_;  // null: a JSON null
};

}  // namespace ym
