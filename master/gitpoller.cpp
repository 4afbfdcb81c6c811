// (Interface only for now: the poller is being written.)
#include "master/gitpoller.hpp"

namespace ym::master {

GitPoller::GitPoller(boost::asio::io_context& io, db::Db& db, ChangeSourceConfig config,
                     std::filesystem::path mirror_root, std::function<bool()> may_write)
    : io_(io),
      db_(db),
      config_(std::move(config)),
      mirror_(mirror_root / (config_.name + ".git")),
      may_write_(std::move(may_write)) {}

boost::asio::awaitable<std::vector<int64_t>> GitPoller::poll() {
  throw GitError("the git poller is not implemented yet");
  co_return std::vector<int64_t>{};
}

}  // namespace ym::master
