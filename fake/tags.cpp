#include "db/connectors/tags.hpp"

#include "db/base.hpp"
#include "fake/internal.hpp"

namespace ym::fake {

int64_t find_tag_id(Store& s, const std::string& name) {
  for (const auto& [id, t] : s.tags) {
    if (t.name == name) return id;
  }
  int64_t id = s.next_id("tags", s.tags);
  s.tags[id] = td::Tag{id, name};
  return id;
}

namespace {

class FakeTags final : public db::Tags {
 public:
  explicit FakeTags(FakeDb::Access a) : a_(a) {}

  Future<int64_t> find_tag_id(std::string name) override {
    return a_.call([&](Store& s) {
      if (!db::is_valid_utf8(name)) throw db::InvalidArgument("tag name is not valid UTF-8");
      return fake::find_tag_id(s, name);
    });
  }

 private:
  FakeDb::Access a_;
};

}  // namespace

std::unique_ptr<db::Tags> make_fake_tags(FakeDb::Access a) {
  return std::make_unique<FakeTags>(a);
}

}  // namespace ym::fake
