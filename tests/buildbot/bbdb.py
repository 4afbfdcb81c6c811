"""A real Buildbot 3.7 database, driven through Buildbot's own DBConnector.

Buildbot's connectors need a master around them (reactor, config, caches); its test helpers
(buildbot.test) are not shipped by Debian, so this module is the smallest stand-in that lets
DBConnector run outside a buildmaster. Reusable by any test that needs Buildbot as an oracle:

    from bbdb import open_buildbot_db, run
    async def main():
        bb = await open_buildbot_db("sqlite:////tmp/x.sqlite")   # creates the schema (upgrade)
        mid = await bb.db.masters.findMasterId("m1")
        ...
        await bb.close()
    run(main)

Times: every call that stamps "now" sees bb.now (seconds since the epoch, settable), so a run is
reproducible. Log compression: bb.set_log_compression("gz" | "bz2" | "lz4" | "raw").

Run with Debian's /usr/bin/python3 (python3-buildbot, python3-psycopg2, python3-mysqldb).
"""

import os
import tempfile

from twisted.internet import defer
from twisted.internet import reactor as _real_reactor
from twisted.internet import task

from buildbot.db import connector
from buildbot.process import cache
from buildbot.util import service


class ClockedReactor:
    """The real reactor (threads, callbacks), but seconds() is a settable clock."""

    def __init__(self, real, now):
        self._real = real
        self.now = now

    def seconds(self):
        return self.now

    def __getattr__(self, name):
        return getattr(self._real, name)


class _Config:
    def __init__(self, db_url, log_compression):
        self.db = {"db_url": db_url}
        self.logCompressionMethod = log_compression
        self.changeHorizon = None
        self.caches = {}


class StubMaster(service.MasterService):
    """What DBConnector and its components read from their master, and nothing else."""

    def __init__(self, db_url, basedir, now, log_compression):
        super().__init__()
        self.setName("stub-master")
        self.basedir = basedir
        self.reactor = ClockedReactor(_real_reactor, now)
        self.config = _Config(db_url, log_compression)
        self.caches = cache.CacheManager()
        self.masterid = None  # set by the caller once a master row exists (claims use it)
        self.db = None


class BuildbotDb:
    def __init__(self, master):
        self.master = master
        self.db = master.db

    @property
    def now(self):
        return self.master.reactor.now

    @now.setter
    def now(self, value):
        self.master.reactor.now = value

    def tick(self, seconds=1):
        self.master.reactor.now += seconds
        return self.master.reactor.now

    def set_log_compression(self, method):
        self.master.config.logCompressionMethod = method

    def set_masterid(self, masterid):
        self.master.masterid = masterid

    async def close(self):
        await self.db.pool.shutdown()


async def open_buildbot_db(db_url, now=1_700_000_000, log_compression="raw", upgrade=True,
                           basedir=None):
    """A BuildbotDb on `db_url`; with upgrade, Buildbot's model.upgrade() creates its schema
    (alembic head) in an empty database."""
    basedir = basedir or tempfile.mkdtemp(prefix="bbdb-")
    master = StubMaster(db_url, basedir, now, log_compression)
    db = connector.DBConnector(basedir)
    master.db = db
    await db.setServiceParent(master)
    await db.setup(check_version=False, verbose=False)
    # the pool starts when the reactor runs; it is running already (run() below)
    db.pool._start()
    if upgrade:
        await db.model.upgrade()
    return BuildbotDb(master)


def run(main, *args):
    """Runs the coroutine function main(*args) under the reactor; returns its exit status."""
    result = {}

    def _go(_reactor):
        d = defer.ensureDeferred(main(*args))

        def _keep(v):
            result["rc"] = v
        d.addCallback(_keep)
        return d

    try:
        task.react(_go)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    return result.get("rc", 0)
