#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "db/db.hpp"
#include "db/drivers/driver.hpp"
#include "db/migrate/schema.hpp"
#include "db/model.hpp"

namespace ym::db {
namespace {

namespace fs = std::filesystem;

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name)
      : path(fs::temp_directory_path() / ("ym-schema-" + std::to_string(::getpid()) + "-" + name)) {
    clean();
  }
  ~TempFile() { clean(); }
  void clean() {
    for (const char* s : {"", "-wal", "-shm"}) fs::remove(path.string() + s);
  }
  std::string url() const { return "sqlite:///" + path.string(); }
};

std::vector<std::string> model_tables() {
  std::vector<std::string> names;
  for (const auto& t : model::current().tables) names.push_back(t.name);
  names.push_back("ym_migrations");
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Schema, ANewDatabaseIsCreatedAtTheCurrentVersion) {
  TempFile f("new.sqlite");
  Db::open(f.url())->shutdown();
  auto conn = open_connection(Url::parse(f.url()));
  auto st = migrate::read_status(*conn);
  EXPECT_EQ(st.state, migrate::SchemaState::kUpToDate);
  EXPECT_EQ(st.version, migrate::current_version());
  EXPECT_EQ(conn->table_names(), model_tables());
  Db::open(f.url())->shutdown();  // reopening an up-to-date database changes nothing
}

TEST(Schema, AnOlderDatabaseIsRefusedWithTheUpgradeCommand) {
  TempFile f("old.sqlite");
  Db::open(f.url())->shutdown();
  {
    auto conn = open_connection(Url::parse(f.url()));
    // Forget the last version, as if the program were one version newer than the database.
    conn->stmt("DELETE FROM ym_migrations WHERE version = ?").bind(migrate::current_version()).exec();
  }
  try {
    Db::open(f.url());
    FAIL() << "opened an out-of-date database";
  } catch (const SchemaOutOfDate& e) {
    EXPECT_NE(std::string(e.what()).find("yardmaster db upgrade"), std::string::npos) << e.what();
  }
}

TEST(Schema, ANewerDatabaseIsRefused) {
  TempFile f("newer.sqlite");
  Db::open(f.url())->shutdown();
  {
    auto conn = open_connection(Url::parse(f.url()));
    conn->stmt("INSERT INTO ym_migrations (version, name, started_at, finished_at) VALUES (?, ?, ?, ?)")
        .bind(migrate::current_version() + 1, "from the future", 1, 2)
        .exec();
  }
  EXPECT_THROW(Db::open(f.url()), SchemaTooNew);
}

TEST(Schema, AnInterruptedMigrationIsReported) {
  TempFile f("interrupted.sqlite");
  Db::open(f.url())->shutdown();
  {
    auto conn = open_connection(Url::parse(f.url()));
    conn->stmt("INSERT INTO ym_migrations (version, name, started_at) VALUES (?, ?, ?)")
        .bind(migrate::current_version() + 1, "half done", 1)
        .exec();
    EXPECT_EQ(migrate::read_status(*conn).state, migrate::SchemaState::kInterrupted);
  }
  EXPECT_THROW(Db::open(f.url()), SchemaOutOfDate);
}

TEST(Schema, ADatabaseOfSomethingElseIsLeftAlone) {
  TempFile f("foreign.sqlite");
  {
    auto conn = open_connection(Url::parse(f.url()));
    conn->execute_script("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
  }
  EXPECT_THROW(Db::open(f.url()), NotADatabase);
  auto conn = open_connection(Url::parse(f.url()));
  EXPECT_EQ(conn->table_names(), std::vector<std::string>{"customers"});
}

TEST(Schema, AFileThatIsNotADatabaseIsATypedErrorAndIsNotModified) {
  TempFile f("text.sqlite");
  std::string content = "this is a build log, not a database\n" + std::string(5000, 'x');
  std::ofstream(f.path) << content;
  EXPECT_THROW(Db::open(f.url()), NotADatabase);
  std::ifstream in(f.path);
  std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, content);
}

TEST(Schema, ADirectoryIsATypedError) {
  EXPECT_THROW(Db::open("sqlite:///" + fs::temp_directory_path().string()), NotADatabase);
}

TEST(Schema, AnUnreachableFileIsConnectionFailed) {
  EXPECT_THROW(Db::open("sqlite:////no/such/dir/x.sqlite"), ConnectionFailed);
}

TEST(Model, DdlRendersEveryTableWithItsIndexes) {
  const Dialect& d = internal::sqlite_dialect();
  const auto& t = model::current().table("buildrequests");
  auto stmts = model::create_statements(t, d);
  ASSERT_EQ(stmts.size(), 1 + t.indexes.size());
  EXPECT_NE(stmts[0].find("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT"), std::string::npos);
  EXPECT_NE(stmts[0].find("FOREIGN KEY (\"buildsetid\") REFERENCES \"buildsets\""), std::string::npos);
  EXPECT_NE(stmts[0].find("\"priority\" INTEGER NOT NULL DEFAULT 0"), std::string::npos);
}

TEST(Model, EveryIndexedStringFitsMysqlsIndexLimit) {
  // Long names are unique through a 40-character hash column instead.
  for (const auto& t : model::current().tables) {
    for (const auto& ix : t.indexes) {
      for (const auto& col : ix.columns) {
        const auto& c = t.column(col);
        EXPECT_NE(c.type, ColumnType::kText) << t.name << "." << col << " is indexed text";
        if (c.type == ColumnType::kString) {
          EXPECT_LE(c.length, 255) << t.name << "." << col;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ym::db
