// Internal to db/: renders a ResultSpec into SQL for one list method.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "db/result_spec.hpp"

namespace ym::db::internal {

// The fields a list method exposes: public name -> SQL expression (e.g. "br.priority").
struct SpecFields {
  std::map<std::string, std::string> fields;
  std::vector<std::string> key;         // natural key, appended to every order (e.g. {"id"})
  std::vector<OrderBy> default_order;   // used when the spec gives none
};

struct SpecSql {
  std::string where;                // "" or " AND (...)" conditions, to follow the method's own
  std::vector<Value> where_params;
  std::string order_limit;          // " ORDER BY ... [LIMIT ? OFFSET ?]"
  std::vector<Value> tail_params;
};

// Throws InvalidArgument on an unknown field, a bad operator/value combination or a bad page.
SpecSql render_spec(const ResultSpec& spec, const SpecFields& fields);

// The effective order: the spec's (or the default), then the natural key. Shared with the fake.
std::vector<OrderBy> effective_order(const ResultSpec& spec, const std::vector<std::string>& key,
                                     const std::vector<OrderBy>& default_order);

// Validates the parts of a spec that do not depend on storage (shared with the fake).
void check_spec(const ResultSpec& spec, const std::vector<std::string>& known_fields);

}  // namespace ym::db::internal
