// Yardmaster's database: ym::db::Db and every connector interface, the records they return, the
// typed errors, and custom SQL (Db::run / read / transaction). Light: no driver, no asio.
// Completion tokens and co_await need <yardmaster/async.hpp> as well. See docs/library.md.
#pragma once

#include "db/db.hpp"
#include "db/errors.hpp"
