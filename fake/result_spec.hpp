// Internal to fake/: evaluates a ResultSpec over in-memory records, with the same semantics as
// the SQL rendering (db/connectors/result_spec_sql.hpp): nulls sort first, the natural key breaks
// ties, keyset paging continues after the given key.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "db/connectors/result_spec_sql.hpp"
#include "db/errors.hpp"
#include "db/result_spec.hpp"

namespace ym::fake {

// Total order on stored values: null < numbers < text < blobs; ints and doubles compare by value.
int compare_values(const db::Value& a, const db::Value& b);

template <class R>
struct SpecAccess {
  std::map<std::string, std::function<db::Value(const R&)>> fields;
  std::vector<std::string> key;
  std::vector<db::OrderBy> default_order;
};

bool filter_matches(const db::FieldFilter& f, const db::Value& v);

template <class R>
std::vector<R> apply_spec(std::vector<R> rows, const db::ResultSpec& spec, const SpecAccess<R>& a) {
  std::vector<std::string> known;
  for (const auto& [k, fn] : a.fields) known.push_back(k);
  db::internal::check_spec(spec, known);
  std::erase_if(rows, [&](const R& r) {
    for (const auto& f : spec.filters) {
      if (!filter_matches(f, a.fields.at(f.field)(r))) return true;
    }
    return false;
  });
  auto order = db::internal::effective_order(spec, a.key, a.default_order);
  auto cmp_key = [&](const R& r, const std::vector<db::Value>& key) {
    for (size_t i = 0; i < order.size(); ++i) {
      int c = compare_values(a.fields.at(order[i].field)(r), key[i]);
      if (c != 0) return order[i].descending ? -c : c;
    }
    return 0;
  };
  if (spec.after) {
    if (spec.after->size() != order.size()) {
      throw db::InvalidArgument("keyset 'after' needs " + std::to_string(order.size()) +
                                " values (the order fields, then the key)");
    }
    std::erase_if(rows, [&](const R& r) { return cmp_key(r, *spec.after) <= 0; });
  }
  std::stable_sort(rows.begin(), rows.end(), [&](const R& x, const R& y) {
    for (const auto& o : order) {
      int c = compare_values(a.fields.at(o.field)(x), a.fields.at(o.field)(y));
      if (c != 0) return o.descending ? c > 0 : c < 0;
    }
    return false;
  });
  size_t begin = spec.offset ? std::min<size_t>(*spec.offset, rows.size()) : 0;
  size_t end = spec.limit ? std::min<size_t>(begin + *spec.limit, rows.size()) : rows.size();
  return std::vector<R>(std::make_move_iterator(rows.begin() + begin),
                        std::make_move_iterator(rows.begin() + end));
}

}  // namespace ym::fake
