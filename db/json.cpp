#include "db/json.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

namespace ym {

namespace {
const nlohmann::json& null_json() {
  static const nlohmann::json n;
  return n;
}
}  // namespace

Json::Json() noexcept = default;
Json Json::object() { return Json(nlohmann::json::object()); }
Json::Json(const nlohmann::json& value) : value_(std::make_unique<nlohmann::json>(value)) {}
Json::Json(nlohmann::json&& value) : value_(std::make_unique<nlohmann::json>(std::move(value))) {}
Json::Json(std::initializer_list<nlohmann::detail::json_ref<nlohmann::json>> init)
    : value_(std::make_unique<nlohmann::json>(init)) {}
Json::Json(const Json& other)
    : value_(other.value_ ? std::make_unique<nlohmann::json>(*other.value_) : nullptr) {}
Json::Json(Json&& other) noexcept = default;
Json& Json::operator=(const Json& other) {
  if (this != &other) value_ = other.value_ ? std::make_unique<nlohmann::json>(*other.value_) : nullptr;
  return *this;
}
Json& Json::operator=(Json&& other) noexcept = default;
Json::~Json() = default;

const nlohmann::json& Json::get() const { return value_ ? *value_ : null_json(); }
nlohmann::json& Json::get() {
  if (!value_) value_ = std::make_unique<nlohmann::json>();
  return *value_;
}

bool operator==(const Json& a, const Json& b) { return a.get() == b.get(); }
bool operator==(const Json& a, const nlohmann::json& b) { return a.get() == b; }
std::ostream& operator<<(std::ostream& os, const Json& v) { return os << v.get().dump(); }

}  // namespace ym
