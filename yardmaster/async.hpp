// Asio completion tokens for every connector method (co_await with asio::use_awaitable,
// asio::use_future, callbacks), ym::async(future, token) and cancellation. See docs/library.md.
#pragma once

#include "db/async.hpp"
#include "db/db.hpp"
