// Internal to db/ and fake/: the checks on a new buildset and the stored form of buildset
// properties, shared by the SQL buildsets and the fake so that both refuse the same input and
// read the same rows.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "db/base.hpp"
#include "db/connectors/buildsets.hpp"
#include "db/connectors/json_util.hpp"
#include "db/connectors/sourcestamps_internal.hpp"
#include "db/errors.hpp"

namespace ym::db::internal {

// One row of buildset_properties: the name and the stored JSON `[value, source]`.
struct StoredProperty {
  std::string name;
  std::string value_json;
};

// Checks everything about `bs` that does not need the database, and returns its properties in
// stored form. Throws InvalidArgument (no builders, a duplicate builder, text that is not UTF-8,
// an empty property name, a property that cannot be stored as JSON) or ValueTooLong.
inline std::vector<StoredProperty> check_new_buildset(const NewBuildset& bs) {
  // The stamps first: Buildbot finds or makes them before it looks at anything else.
  for (const auto& ref : bs.sourcestamps) {
    if (const auto* spec = std::get_if<SourceStampSpec>(&ref)) check_source_stamp_spec(*spec);
  }
  if (bs.builderids.empty()) throw InvalidArgument("a buildset needs at least one builder");
  std::set<int64_t> seen;
  for (int64_t id : bs.builderids) {
    if (!seen.insert(id).second) {
      throw InvalidArgument("builder " + std::to_string(id) +
                            " is given twice; a buildset has one request per builder");
    }
  }
  check_utf8("buildset reason", bs.reason);
  check_length("buildsets", "reason", bs.reason);
  if (bs.external_idstring) {
    check_utf8("buildset external_idstring", *bs.external_idstring);
    check_length("buildsets", "external_idstring", *bs.external_idstring);
  }
  if (bs.parent_relationship) {
    check_utf8("buildset parent_relationship", *bs.parent_relationship);
  }
  std::vector<StoredProperty> out;
  for (const auto& [name, prop] : bs.properties) {
    if (name.empty()) throw InvalidArgument("a buildset property name is empty");
    check_utf8("buildset property name", name);
    check_length("buildset_properties", "property_name", name);
    out.push_back({name, dump_json(nlohmann::json::array({prop.value, prop.source}),
                                   "buildset property '" + name + "'")});
  }
  return out;
}

// Reads a stored `[value, source]`; InvalidArgument when the stored text is not of that form.
inline Property parse_stored_property(const std::string& name, const std::string& text) {
  nlohmann::json j = parse_json(text, "buildset property '" + name + "'");
  if (!j.is_array() || j.size() != 2 || !j[1].is_string()) {
    throw InvalidArgument("stored buildset property '" + name + "' is not [value, source]");
  }
  return Property{j[0], j[1].get<std::string>()};
}

}  // namespace ym::db::internal
