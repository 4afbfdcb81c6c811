#include "fake/result_spec.hpp"

namespace ym::fake {

int compare_values(const db::Value& a, const db::Value& b) {
  auto rank = [](const db::Value& v) {
    switch (v.index()) {
      case 0: return 0;  // null
      case 1:
      case 2: return 1;  // numbers
      case 3: return 2;  // text
      default: return 3;
    }
  };
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0: return 0;
    case 1: {
      if (a.index() == 1 && b.index() == 1) {
        auto x = std::get<int64_t>(a), y = std::get<int64_t>(b);
        return x < y ? -1 : (x > y ? 1 : 0);
      }
      double x = db::FromValue<double>::get(a), y = db::FromValue<double>::get(b);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    case 2: {
      int c = std::get<std::string>(a).compare(std::get<std::string>(b));
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default: {
      int c = std::get<db::Blob>(a).bytes.compare(std::get<db::Blob>(b).bytes);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
  }
}

bool filter_matches(const db::FieldFilter& f, const db::Value& v) {
  using Op = db::FieldFilter::Op;
  bool v_null = std::holds_alternative<std::nullptr_t>(v);
  if (f.op == Op::kIn) {
    if (v_null) return false;
    return std::any_of(f.values.begin(), f.values.end(),
                       [&](const db::Value& x) { return compare_values(v, x) == 0; });
  }
  const db::Value& x = f.values[0];
  if (std::holds_alternative<std::nullptr_t>(x)) return f.op == Op::kEq ? v_null : !v_null;
  if (v_null) return false;  // SQL: comparisons with NULL are not true
  int c = compare_values(v, x);
  switch (f.op) {
    case Op::kEq: return c == 0;
    case Op::kNe: return c != 0;
    case Op::kLt: return c < 0;
    case Op::kLe: return c <= 0;
    case Op::kGt: return c > 0;
    case Op::kGe: return c >= 0;
    case Op::kIn: break;
  }
  return false;
}

}  // namespace ym::fake
