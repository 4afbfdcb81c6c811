#include "db/connectors/result_spec_sql.hpp"

#include <algorithm>

#include "db/errors.hpp"

namespace ym::db::internal {

std::vector<OrderBy> effective_order(const ResultSpec& spec, const std::vector<std::string>& key,
                                     const std::vector<OrderBy>& default_order) {
  std::vector<OrderBy> order = spec.order.empty() ? default_order : spec.order;
  for (const auto& k : key) {
    bool present = std::any_of(order.begin(), order.end(), [&](const OrderBy& o) { return o.field == k; });
    if (!present) order.push_back({k, false});
  }
  return order;
}

void check_spec(const ResultSpec& spec, const std::vector<std::string>& known) {
  auto check_field = [&](const std::string& f) {
    if (std::find(known.begin(), known.end(), f) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw InvalidArgument("unknown field '" + f + "' in result spec (known: " + list + ")");
    }
  };
  for (const auto& f : spec.filters) {
    check_field(f.field);
    if (f.op == FieldFilter::Op::kIn) continue;
    if (f.values.size() != 1) {
      throw InvalidArgument("filter on '" + f.field + "' needs exactly one value");
    }
    bool null = std::holds_alternative<std::nullptr_t>(f.values[0]);
    if (null && f.op != FieldFilter::Op::kEq && f.op != FieldFilter::Op::kNe) {
      throw InvalidArgument("filter on '" + f.field + "' compares with null; use == or !=");
    }
  }
  for (const auto& o : spec.order) check_field(o.field);
  if (spec.limit && *spec.limit < 0) throw InvalidArgument("result spec limit is negative");
  if (spec.offset && *spec.offset < 0) throw InvalidArgument("result spec offset is negative");
}

SpecSql render_spec(const ResultSpec& spec, const SpecFields& fields) {
  std::vector<std::string> known;
  for (const auto& [name, sql] : fields.fields) known.push_back(name);
  check_spec(spec, known);
  SpecSql out;
  auto expr = [&](const std::string& f) { return fields.fields.at(f); };

  for (const auto& f : spec.filters) {
    std::string e = expr(f.field);
    using Op = FieldFilter::Op;
    if (f.op == Op::kIn) {
      if (f.values.empty()) {
        out.where += " AND 1 = 0";
        continue;
      }
      std::string marks;
      for (size_t i = 0; i < f.values.size(); ++i) marks += i ? ", ?" : "?";
      out.where += " AND " + e + " IN (" + marks + ")";
      out.where_params.insert(out.where_params.end(), f.values.begin(), f.values.end());
      continue;
    }
    const Value& v = f.values[0];
    if (std::holds_alternative<std::nullptr_t>(v)) {
      out.where += " AND " + e + (f.op == Op::kEq ? " IS NULL" : " IS NOT NULL");
      continue;
    }
    const char* op = "=";
    switch (f.op) {
      case Op::kEq: op = "="; break;
      case Op::kNe: op = "<>"; break;
      case Op::kLt: op = "<"; break;
      case Op::kLe: op = "<="; break;
      case Op::kGt: op = ">"; break;
      case Op::kGe: op = ">="; break;
      case Op::kIn: break;
    }
    out.where += " AND " + e + " " + op + " ?";
    out.where_params.push_back(v);
  }

  auto order = effective_order(spec, fields.key, fields.default_order);
  if (spec.after) {
    if (spec.after->size() != order.size()) {
      throw InvalidArgument("keyset 'after' needs " + std::to_string(order.size()) +
                            " values (the order fields, then the key)");
    }
    // (a, b, c) after (x, y, z) in mixed directions:
    //   a > x OR (a = x AND (b > y OR (b = y AND c > z)))
    std::string cond;
    std::vector<Value> params;
    for (size_t i = order.size(); i-- > 0;) {
      std::string e = expr(order[i].field);
      const char* cmp = order[i].descending ? " < ?" : " > ?";
      if (cond.empty()) {
        cond = e + cmp;
        params = {(*spec.after)[i]};
      } else {
        cond = e + cmp + " OR (" + e + " = ? AND (" + cond + "))";
        std::vector<Value> p{(*spec.after)[i], (*spec.after)[i]};
        p.insert(p.end(), params.begin(), params.end());
        params = std::move(p);
      }
    }
    out.where += " AND (" + cond + ")";
    out.where_params.insert(out.where_params.end(), params.begin(), params.end());
  }

  out.order_limit = " ORDER BY ";
  for (size_t i = 0; i < order.size(); ++i) {
    std::string e = expr(order[i].field);
    if (i) out.order_limit += ", ";
    // Nulls sort as the smallest value on every backend (PostgreSQL's default differs).
    out.order_limit += order[i].descending ? "(" + e + " IS NULL) ASC, " + e + " DESC"
                                           : "(" + e + " IS NULL) DESC, " + e + " ASC";
  }
  if (spec.limit || spec.offset) {
    out.order_limit += " LIMIT ? OFFSET ?";
    out.tail_params.push_back(spec.limit ? *spec.limit : int64_t{1} << 62);
    out.tail_params.push_back(spec.offset ? *spec.offset : int64_t{0});
  }
  return out;
}

}  // namespace ym::db::internal
