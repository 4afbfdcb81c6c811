// Result specs: how a caller asks a list method for part of a result (Buildbot's resultSpec).
// Field filters, an order, a limit/offset, and keyset paging ("rows after this key"), pushed down
// into SQL so that no list method loads a whole table to return a page. The fake evaluates the
// same spec in memory. Each list method documents the fields it accepts; an unknown field or a
// value of the wrong type is InvalidArgument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "value.hpp"

namespace ym::db {

struct FieldFilter {
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn };
  std::string field;
  Op op = Op::kEq;
  // One value (kIn: any number). A null value with kEq/kNe means IS NULL / IS NOT NULL.
  std::vector<Value> values;
};

struct OrderBy {
  std::string field;
  bool descending = false;
};

struct ResultSpec {
  std::vector<FieldFilter> filters;
  // Applied in order; the method's natural key is appended as a tie-breaker so that pages are
  // stable. Empty means the method's documented default order.
  std::vector<OrderBy> order;
  std::optional<int64_t> limit;
  std::optional<int64_t> offset;
  // Keyset paging: return only rows strictly after the row whose order-key values (in `order`,
  // then the natural key) are these. Keyset fields must not be null.
  std::optional<std::vector<Value>> after;

  ResultSpec& where(std::string field, Value v, FieldFilter::Op op = FieldFilter::Op::kEq) {
    filters.push_back({std::move(field), op, {std::move(v)}});
    return *this;
  }
  ResultSpec& order_by(std::string field, bool descending = false) {
    order.push_back({std::move(field), descending});
    return *this;
  }
  ResultSpec& take(int64_t n) {
    limit = n;
    return *this;
  }
};

}  // namespace ym::db
