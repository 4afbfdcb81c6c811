// Internal to db/ and fake/: JSON (de)serialisation with our typed errors.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "db/errors.hpp"

namespace ym::db::internal {

// Serialises `value`; InvalidArgument (naming `what`) when it cannot be stored, e.g. a string
// that is not valid UTF-8.
inline std::string dump_json(const nlohmann::json& value, const std::string& what) {
  try {
    return value.dump();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(what + " cannot be stored as JSON: " + e.what());
  }
}

// Parses stored JSON; InvalidArgument (naming `what`) when the stored text is not JSON.
inline nlohmann::json parse_json(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument("stored " + what + " is not valid JSON: " + e.what());
  }
}

}  // namespace ym::db::internal
