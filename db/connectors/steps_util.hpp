// Internal to db/ and fake/: the step rules both implementations share, so that they cannot
// drift: choosing a free step name, and the JSON form of a step's URL list.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "db/connectors/json_util.hpp"
#include "db/connectors/steps.hpp"

namespace ym::db::internal {

// `name` if it is not in `taken`, else the first of name_1, name_2, ... that is not, with the
// base shortened so that the result stays within kStepNameMax (names are ASCII identifiers, so
// shortening by bytes never cuts a character).
inline std::string unique_step_name(const std::string& name, const std::set<std::string>& taken) {
  if (!taken.count(name)) return name;
  for (size_t n = 1;; ++n) {
    std::string suffix = "_" + std::to_string(n);
    std::string candidate = name.substr(0, kStepNameMax - suffix.size()) + suffix;
    if (!taken.count(candidate)) return candidate;
  }
}

// urls_json: a JSON list of {"name": ..., "url": ...} objects, in the order they were added.
inline std::vector<StepUrl> parse_step_urls(const std::string& json) {
  nlohmann::json v = parse_json(json, "step URLs");
  std::vector<StepUrl> out;
  if (!v.is_array()) throw InvalidArgument("stored step URLs are not a JSON list");
  for (const auto& u : v) {
    if (!u.is_object() || !u.contains("name") || !u.contains("url") || !u["name"].is_string() ||
        !u["url"].is_string()) {
      throw InvalidArgument("stored step URL is not an object with a name and a url");
    }
    out.push_back(StepUrl{u["name"].get<std::string>(), u["url"].get<std::string>()});
  }
  return out;
}

inline std::string dump_step_urls(const std::vector<StepUrl>& urls) {
  nlohmann::json v = nlohmann::json::array();
  for (const auto& u : urls) v.push_back({{"name", u.name}, {"url", u.url}});
  return dump_json(v, "step URLs");
}

}  // namespace ym::db::internal
