// ym::fake::FakeDb: the in-memory implementation of ym::db::Db, held to the same contract as the
// real backends, for your tests (docs/testing-with-the-fake.md).
#pragma once

#include "db/db.hpp"
#include "fake/fake_db.hpp"
