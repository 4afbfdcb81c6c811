// (Interface only for now: the schedulers are being written.)
#include "master/schedulers.hpp"

namespace ym::master {

std::unique_ptr<Scheduler> Scheduler::create(boost::asio::io_context& io, db::Db& db,
                                             SchedulerConfig config, int64_t schedulerid,
                                             std::function<bool()> may_write) {
  return nullptr;
}

}  // namespace ym::master
