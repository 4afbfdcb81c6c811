#!/usr/bin/python3
"""The differential test against the real Buildbot 3.7 (docs/buildbot-compatibility.md,
"How this is checked").

A seeded generator makes a sequence of connector calls; each call runs through Buildbot's own
DBConnector (Debian's python3-buildbot, on a database created by Buildbot's model.upgrade()) and,
through a pipe, through ym_oracle (our connectors, on a database of the same backend created by
our migrations). Results are compared call by call after normalising representation only:
times as epoch seconds, tuples as lists, dict key order, the order of lists whose order Buildbot
leaves undefined (no ORDER BY), and surrogate ids (each side numbers its own rows; ids are
compared through a map learnt from the calls that create them, so that a row one side failed to
create does not shift every later id). A difference listed in expected.json is counted as
expected; anything else is reported with the seed, the call index, the call and both results.

Run with Debian's /usr/bin/python3:
  oracle.py --backend sqlite|postgres|mysql --oracle build/tests/oracle/ym_oracle
            [--seed N] [--calls N] [--component NAME[,NAME]] [--show N] [--trace]
PostgreSQL and MySQL need YM_TEST_POSTGRES_URL / YM_TEST_MYSQL_URL (scripts/test and
tests/oracle/run.sh set them): the driver creates two databases there, one per side.
Exit status: 0 when every difference is expected, 1 otherwise, 77 when the backend or a Python
module is missing (2 under CI=true: nothing may be skipped in CI).
"""

import argparse
import collections
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def die_missing(what):
    if os.environ.get("CI") == "true":
        print(f"oracle: FAIL: {what} (CI=true: a missing backend or module is a failure)",
              file=sys.stderr)
        sys.exit(2)
    print(f"oracle: SKIPPED: {what}", file=sys.stderr)
    sys.exit(SKIP)


try:
    from twisted.internet import defer, task
    import sqlalchemy as sa
    from buildbot.db import buildsets as bb_buildsets
    from buildbot.db import connector as bb_connector
    from buildbot.db import exceptions as bb_exceptions  # noqa: F401
    from buildbot.data import resultspec
    from buildbot.process.cache import CacheManager
    from buildbot.util import service as bb_service
    from buildbot.util import epoch2datetime
except ImportError as e:  # pragma: no cover
    die_missing(f"python module: {e} (install python3-buildbot: scripts/setup)")

T0 = 1_700_000_000
GHOST = 1_000_000_000
MISSING_BASE = 100_000  # ids of missing rows start above this (Gen.pick)
BUILDBOT_LOG_COMPRESSION = "raw"
OUR_LOG_COMPRESSION = "zstd"  # ym_oracle keeps DbOptions::log_compression's default
CALL_TIMEOUT = 20  # our side's stand-in for a Buildbot id we never learnt

# ------------------------------------------------------------------------------------ ids
# Argument and result keys that hold ids, and of which kind.
ID_KEYS = {
    "masterid": "master", "claimed_by_masterid": "master", "masterids": "master",
    "connected_to": "master", "claimed": "master",
    "builderid": "builder", "builderids": "builder",
    "workerid": "worker",
    "ssid": "ss", "sourcestampid": "ss", "sourcestamps": "ss",
    "patchid": "patch",
    "bsid": "bs", "buildsetid": "bs",
    "brid": "br", "brids": "br", "buildrequestid": "br",
    "buildid": "build", "parent_buildid": "build",
    "stepid": "step", "logid": "log",
    "changeid": "change", "parent_changeids": "change", "less_than": "change",
    "schedulerid": "scheduler", "changesourceid": "changesource",
    "objectid": "object", "uid": "user",
    "test_result_setid": "trs", "test_resultid": "tr",
}
# Keys whose value is an object keyed by ids.
ID_KEYED = {"classifications": "change", "brids_by_builder": "builder"}
# Lists that are sets: Buildbot gives them in no defined order.
SET_KEYS = {"connected_to", "configured_on", "sourcestamps", "masterids", "tags"}


class IdMap:
    def __init__(self):
        self.fwd = collections.defaultdict(dict)  # kind -> {bb id: our id}
        self.inv = collections.defaultdict(dict)

    def learn(self, kind, bb, ours):
        if not isinstance(bb, int) or not isinstance(ours, int) or isinstance(bb, bool):
            return
        if bb in self.fwd[kind] or ours in self.inv[kind]:
            return  # a conflict shows as a difference when the result is translated
        self.fwd[kind][bb] = ours
        self.inv[kind][ours] = bb

    def forget(self, kind, bb):
        """A row deleted on both sides: its ids may be used again for new rows."""
        ours = self.fwd[kind].pop(bb, None)
        if ours is not None:
            self.inv[kind].pop(ours, None)

    def to_ours(self, kind, bb):
        if not isinstance(bb, int) or isinstance(bb, bool):
            return bb
        return self.fwd[kind].get(bb, bb if bb > GHOST // 2 else GHOST + bb)

    def to_bb(self, kind, ours):
        if not isinstance(ours, int) or isinstance(ours, bool):
            return ours
        if ours in self.inv[kind]:
            return self.inv[kind][ours]
        if ours >= GHOST:
            return ours - GHOST
        return f"<our {kind} {ours}>"


def translate(v, fn, key=None, kind=None):
    """Applies fn(kind, id) to every id in v (args in Buildbot's space, results in ours)."""
    k = kind or ID_KEYS.get(key)
    if isinstance(v, dict):
        out = {}
        keyed = ID_KEYED.get(key)
        for kk, vv in v.items():
            nk = kk
            if keyed is not None:
                nk = str(fn(keyed, int(kk)))
            if kk == "id" and kind is not None:
                out[nk] = translate(vv, fn, kind=kind)
            else:
                out[nk] = translate(vv, fn, key=kk)
        return out
    if isinstance(v, list):
        return [translate(x, fn, key=key, kind=kind) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and k is not None:
        return fn(k, v)
    return v


# ------------------------------------------------------------------------------------ normalising


def neutral(v):
    """Buildbot's Python values in the JSON form ym_oracle writes."""
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return int(v.timestamp())
    if isinstance(v, dict):
        return {str(k): neutral(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [neutral(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def canon(v):
    return json.dumps(v, sort_keys=True)


def sort_sets(v, unordered_top=False):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            x = sort_sets(x)
            if k in SET_KEYS and isinstance(x, list):
                x = sorted(x, key=canon)
            out[k] = x
        return out
    if isinstance(v, list):
        v = [sort_sets(x) for x in v]
        if unordered_top:
            v = sorted(v, key=canon)
        return v
    return v


# ------------------------------------------------------------------------------------ Buildbot


class Reactor:
    """The real reactor with a settable clock: every 'now' Buildbot's connectors read."""

    def __init__(self, reactor):
        self._r = reactor
        self.now = T0

    def seconds(self):
        return self.now

    def __getattr__(self, name):
        return getattr(self._r, name)


class Config:
    def __init__(self, url):
        self.db = {"db_url": url}
        self.logCompressionMethod = BUILDBOT_LOG_COMPRESSION
        self.changeHorizon = None
        self.caches = {}


class Master(bb_service.MasterService):
    def __init__(self, reactor, url, basedir):
        super().__init__()
        self.reactor = reactor
        self.config = Config(url)
        self.basedir = basedir
        self.masterid = None
        self.caches = CacheManager()
        self.caches.setServiceParent(self)

    @property
    def master(self):
        return self


def bb_error_kind(e):
    # addBuildset's DeferredList wraps the first failure.
    while isinstance(e, defer.FirstError):
        e = e.subFailure.value
    name = type(e).__name__
    msg = str(e)
    if isinstance(e, sa.exc.IntegrityError):
        return "IntegrityError"
    if isinstance(e, sa.exc.DataError) and ("too long" in msg.lower()):
        return "ValueTooLong"
    if isinstance(e, RuntimeError) and "is greater than max" in msg:
        return "ValueTooLong"
    if isinstance(e, sa.exc.OperationalError) and "cannot be null" in msg.lower():
        # MySQL's driver reports a NOT NULL violation (1048) as OperationalError; SQLite's and
        # PostgreSQL's as IntegrityError: one condition.
        return "IntegrityError"
    if isinstance(e, sa.exc.DBAPIError):
        return "sa." + name
    return name


def ts(v):
    return None if v is None else epoch2datetime(v)


def spec(a):
    s = a.get("spec")
    if s is None:
        return None
    filters = [resultspec.Filter(f[0], f[1], f[2]) for f in s.get("filters", [])]
    return resultspec.ResultSpec(filters=filters, order=s.get("order"), limit=s.get("limit"),
                                 offset=s.get("offset"))


def ss_kwargs(a):
    keys = ["branch", "revision", "repository", "project", "codebase", "patch_body",
            "patch_level", "patch_author", "patch_comment", "patch_subdir"]
    return {k: a[k] for k in keys if k in a}


def props(a):
    return {k: tuple(v) for k, v in (a.get("properties") or {}).items()}


def set_master(db, a):
    db.master.masterid = a["masterid"]


def _claim(db, a):
    set_master(db, a)
    return db.buildrequests.claimBuildRequests(a["brids"], claimed_at=ts(a.get("claimed_at")))


def _unclaim(db, a):
    set_master(db, a)
    return db.buildrequests.unclaimBuildRequests(a["brids"])


def _complete_brs(db, a):
    set_master(db, a)
    return db.buildrequests.completeBuildRequests(a["brids"], a["results"],
                                                  complete_at=ts(a.get("complete_at")))


def _get_state(db, a):
    if "default" in a:
        return db.state.getState(a["objectid"], a["name"], a["default"])
    return db.state.getState(a["objectid"], a["name"])


def _add_change(db, a):
    kw = dict(a)
    if "when_timestamp" in kw:
        kw["when_timestamp"] = ts(kw["when_timestamp"])
    if "properties" in kw:
        kw["properties"] = props(a)
    return db.changes.addChange(**kw)


def _add_buildset(db, a):
    kw = dict(a)
    kw["properties"] = props(a)
    if "submitted_at" in kw:
        kw["submitted_at"] = ts(kw["submitted_at"])
    return db.buildsets.addBuildset(**kw)


def _get_change_classifications(db, a):
    kw = {k: v for k, v in a.items() if k != "schedulerid"}
    return db.schedulers.getChangeClassifications(a["schedulerid"], **kw)


def _brs(db, a):
    kw = dict(a)
    if "spec" in kw:
        kw["resultSpec"] = spec(kw.pop("spec"))
    return db.buildrequests.getBuildRequests(**kw)


def _bb_builds(db, a):
    kw = dict(a)
    if "spec" in kw:
        kw["resultSpec"] = spec(kw.pop("spec"))
    return db.builds.getBuilds(**kw)


# Our set_master_state(id, False) is a whole take-over in one transaction (docs/
# buildbot-compatibility.md, "set_master_state(id, false): a take-over, in one transaction");
# Buildbot's deletes only the master's scheduler links and leaves the rest to its data layer's
# housekeeping, in separate calls. After such a call the test brings Buildbot's database to the
# state our transaction left (the same statements as db/connectors/masters.cpp and
# internal::end_unfinished_builds), so that this one deliberate difference does not show again
# in every later call on the master's builders, workers, requests and builds.
TAKEOVER_SQL = [
    ("DELETE FROM configured_workers WHERE buildermasterid IN "
     "(SELECT id FROM builder_masters WHERE masterid = :m)"),
    "DELETE FROM builder_masters WHERE masterid = :m",
    "DELETE FROM scheduler_masters WHERE masterid = :m",
    "DELETE FROM changesource_masters WHERE masterid = :m",
    "DELETE FROM connected_workers WHERE masterid = :m",
    ("DELETE FROM buildrequest_claims WHERE masterid = :m AND brid IN "
     "(SELECT id FROM buildrequests WHERE complete = 0)"),
    ("UPDATE logs SET complete = 1 WHERE complete = 0 AND stepid IN (SELECT id FROM steps "
     "WHERE buildid IN (SELECT id FROM builds WHERE masterid = :m AND complete_at IS NULL))"),
    ("UPDATE steps SET results = :r, complete_at = :now WHERE complete_at IS NULL AND buildid IN "
     "(SELECT id FROM builds WHERE masterid = :m AND complete_at IS NULL)"),
    ("UPDATE builds SET results = :r, complete_at = :now, state_string = :s "
     "WHERE masterid = :m AND complete_at IS NULL"),
]
RETRY = 5  # buildbot.process.results.RETRY, our results::kRetry
BUILD_DATA_READS = {"build_data.get_build_data", "build_data.get_build_data_no_value",
                    "build_data.get_all_build_data_no_values"}


def takeover_housekeeping(db, masterid, now):
    def thd(conn):
        if not conn.execute(sa.text("SELECT 1 FROM masters WHERE id = :m"), m=masterid).fetchone():
            return
        transaction = conn.begin()
        for sql in TAKEOVER_SQL:
            conn.execute(sa.text(sql), m=masterid, r=RETRY, now=now,
                         s="retry: its master went inactive")
        transaction.commit()
    return db.pool.do(thd)


# Rows without an id of their own that Buildbot stores where we refuse the call as an expected
# difference (for a missing build or test result set on SQLite, "Foreign keys are enforced on
# SQLite"; results under a builder that is not the set's, "Test results"): deleted again from
# Buildbot's database, so that both sides hold the same rows and later answers (counts of
# deleted rows, a builder's test names) compare.
DANGLING_SQL = {
    "build_data.set_build_data": [
        "DELETE FROM build_data WHERE buildid = :buildid AND name = :name"],
    "test_results.add_test_results": [
        "DELETE FROM test_results WHERE test_result_setid = :test_result_setid "
        "AND builderid = :builderid",
        "DELETE FROM test_names WHERE builderid = :builderid AND id NOT IN "
        "(SELECT test_nameid FROM test_results WHERE test_nameid IS NOT NULL)",
        "DELETE FROM test_code_paths WHERE builderid = :builderid AND id NOT IN "
        "(SELECT test_code_pathid FROM test_results WHERE test_code_pathid IS NOT NULL)"],
}


# Rows that Buildbot created in a call that we refused as an expected difference (a build for a
# missing worker on SQLite, a step or log with a name that is not an identifier): deleted again
# from Buildbot's database, so that the builder's build numbers, the build's step numbers and the
# step's log slugs stay the same on both sides.
CREATED_SQL = {
    "builds.add_build": "DELETE FROM builds WHERE id = :id",
    "steps.add_step": "DELETE FROM steps WHERE id = :id",
    "logs.add_log": "DELETE FROM logs WHERE id = :id",
}


def delete_created(db, call, rowid):
    def thd(conn):
        conn.execute(sa.text(CREATED_SQL[call]), id=rowid)
    return db.pool.do(thd)


def logs_only_buildbot_deletes(db, older_than, differing):
    """The logs that Buildbot's deleteOldLogChunks(older_than) is about to mark deleted and ours
    is not ("delete_old_log_chunks(t)" in docs/buildbot-compatibility.md, Logs): those of steps
    that did not start before older_than but have a lower id than one that did; and whether it
    deletes a log of `differing` (whose chunks differ already, so that the counts differ)."""
    def thd(conn):
        top = conn.execute(sa.text("SELECT MAX(id) FROM steps WHERE started_at < :t"),
                           t=older_than).fetchone()[0]
        if not top:
            return [], False
        rows = conn.execute(sa.text(
            "SELECT l.id FROM logs l JOIN steps s ON s.id = l.stepid WHERE l.stepid <= :top "
            "AND l.type <> 'd' AND (s.started_at IS NULL OR s.started_at >= :t)"),
            top=top, t=older_than)
        only = [r[0] for r in rows]
        deleted = {r[0] for r in conn.execute(
            sa.text("SELECT id FROM logs WHERE stepid <= :top"), top=top)}
        return only, bool(deleted & differing)
    return db.pool.do(thd)


def log_starts_after_line_zero(db, logid):
    """Before compress_log: whether the log's first chunk starts after line 0 (its older lines
    were deleted by delete_old_log_chunks). Buildbot's compressLog then writes the merged chunk
    as starting at line 0, so its later reads of that log fail or differ ("`compress_log` of a
    log whose first lines were deleted" in docs/buildbot-compatibility.md, Logs)."""
    def thd(conn):
        first = conn.execute(sa.text("SELECT MIN(first_line) FROM logchunks WHERE logid = :l"),
                             l=logid).fetchone()[0]
        return first is not None and first > 0
    return db.pool.do(thd)


def builds_with_data(db):
    """Before delete_old_build_data on PostgreSQL / MySQL, where Buildbot deletes the data we keep
    and keeps the data we delete ("delete_old_build_data(older_than) deletes the old data on
    every backend"): the builds whose data then differs."""
    def thd(conn):
        return [r[0] for r in conn.execute(sa.text("SELECT DISTINCT buildid FROM build_data"))]
    return db.pool.do(thd)


def delete_dangling(db, call, args):
    def thd(conn):
        transaction = conn.begin()
        for sql in DANGLING_SQL[call]:
            conn.execute(sa.text(sql), **{k: v for k, v in args.items() if f":{k}" in sql})
        transaction.commit()
    return db.pool.do(thd)


# The call table: our name -> (how to call Buildbot, the id kind of "id" / of a scalar result,
# whether Buildbot leaves the list order undefined). Arguments are Buildbot's keyword names.
CALLS = {
    "masters.find_master_id": (lambda db, a: db.masters.findMasterId(a["name"]), "master", False),
    "masters.set_master_state":
        (lambda db, a: db.masters.setMasterState(a["masterid"], a["active"]), None, False),
    "masters.get_master": (lambda db, a: db.masters.getMaster(a["masterid"]), "master", False),
    "masters.get_masters": (lambda db, a: db.masters.getMasters(), "master", True),
    "masters.set_all_masters_active_long_time_ago":
        (lambda db, a: db.masters.setAllMastersActiveLongTimeAgo(), None, False),

    "builders.find_builder_id":
        (lambda db, a: db.builders.findBuilderId(a["name"], autoCreate=a.get("autoCreate", True)),
         "builder", False),
    "builders.add_builder_master":
        (lambda db, a: db.builders.addBuilderMaster(builderid=a["builderid"],
                                                    masterid=a["masterid"]), None, False),
    "builders.remove_builder_master":
        (lambda db, a: db.builders.removeBuilderMaster(builderid=a["builderid"],
                                                       masterid=a["masterid"]), None, False),
    "builders.get_builder": (lambda db, a: db.builders.getBuilder(a["builderid"]), "builder", False),
    "builders.get_builders":
        (lambda db, a: db.builders.getBuilders(masterid=a.get("masterid")), "builder", False),
    "builders.update_builder_info":
        (lambda db, a: db.builders.updateBuilderInfo(a["builderid"], a.get("description"),
                                                     a.get("tags", [])), None, False),

    "workers.find_worker_id": (lambda db, a: db.workers.findWorkerId(a["name"]), "worker", False),
    "workers.get_workers": (lambda db, a: db.workers.getWorkers(**a), "worker", False),
    "workers.get_worker": (lambda db, a: db.workers.getWorker(**a), "worker", False),
    "workers.worker_connected":
        (lambda db, a: db.workers.workerConnected(a["workerid"], a["masterid"], a["workerinfo"]),
         None, False),
    "workers.worker_disconnected":
        (lambda db, a: db.workers.workerDisconnected(a["workerid"], a["masterid"]), None, False),
    "workers.worker_configured":
        (lambda db, a: db.workers.workerConfigured(a["workerid"], a["masterid"], a["builderids"]),
         None, False),
    "workers.deconfigure_all_workers_for_master":
        (lambda db, a: db.workers.deconfigureAllWorkersForMaster(a["masterid"]), None, False),
    "workers.set_worker_state":
        (lambda db, a: db.workers.setWorkerState(a["workerid"], a["paused"], a["graceful"]),
         None, False),

    "state.get_object_id":
        (lambda db, a: db.state.getObjectId(a["name"], a["class_name"]), "object", False),
    "state.get_state": (_get_state, None, False),
    "state.set_state":
        (lambda db, a: db.state.setState(a["objectid"], a["name"], a["value"]), None, False),
    "state.atomic_create_state":
        (lambda db, a: db.state.atomicCreateState(a["objectid"], a["name"],
                                                  lambda: a["value"]), None, False),

    "sourcestamps.find_source_stamp_id":
        (lambda db, a: db.sourcestamps.findSourceStampId(**ss_kwargs(a)), "ss", False),
    "sourcestamps.get_source_stamp":
        (lambda db, a: db.sourcestamps.getSourceStamp(a["ssid"]), "ss", False),
    "sourcestamps.get_source_stamps": (lambda db, a: db.sourcestamps.getSourceStamps(), "ss", True),
    "sourcestamps.get_source_stamps_for_build":
        (lambda db, a: db.sourcestamps.getSourceStampsForBuild(a["buildid"]), "ss", True),

    "buildsets.add_buildset": (_add_buildset, None, False),
    "buildsets.complete_buildset":
        (lambda db, a: db.buildsets.completeBuildset(a["bsid"], a["results"],
                                                     complete_at=ts(a.get("complete_at"))),
         None, False),
    "buildsets.get_buildset": (lambda db, a: db.buildsets.getBuildset(a["bsid"]), "bs", False),
    "buildsets.get_buildsets":
        (lambda db, a: db.buildsets.getBuildsets(complete=a.get("complete"),
                                                 resultSpec=spec(a)), "bs", True),
    "buildsets.get_recent_buildsets":
        (lambda db, a: db.buildsets.getRecentBuildsets(**a), "bs", False),
    "buildsets.get_buildset_properties":
        (lambda db, a: db.buildsets.getBuildsetProperties(a["bsid"]), None, False),

    "buildrequests.get_build_request":
        (lambda db, a: db.buildrequests.getBuildRequest(a["brid"]), "br", False),
    "buildrequests.get_build_requests": (_brs, "br", True),
    "buildrequests.claim_build_requests": (_claim, None, False),
    "buildrequests.unclaim_build_requests": (_unclaim, None, False),
    "buildrequests.complete_build_requests": (_complete_brs, None, False),

    "builds.get_build": (lambda db, a: db.builds.getBuild(a["buildid"]), "build", False),
    "builds.get_build_by_number":
        (lambda db, a: db.builds.getBuildByNumber(a["builderid"], a["number"]), "build", False),
    "builds.get_builds": (_bb_builds, "build", True),
    "builds.get_prev_successful_build":
        (lambda db, a: db.builds.getPrevSuccessfulBuild(a["builderid"], a["number"],
                                                        a["sourcestamps"]), "build", False),
    "builds.get_builds_for_change":
        (lambda db, a: db.builds.getBuildsForChange(a["changeid"]), "build", True),
    "builds.add_build":
        (lambda db, a: db.builds.addBuild(a["builderid"], a["buildrequestid"], a.get("workerid"),
                                          a["masterid"], a["state_string"]), "build", False),
    "builds.set_build_state_string":
        (lambda db, a: db.builds.setBuildStateString(a["buildid"], a["state_string"]), None, False),
    "builds.finish_build":
        (lambda db, a: db.builds.finishBuild(a["buildid"], a["results"]), None, False),
    "builds.get_build_properties":
        (lambda db, a: db.builds.getBuildProperties(a["buildid"]), None, False),
    "builds.set_build_property":
        (lambda db, a: db.builds.setBuildProperty(a["buildid"], a["name"], a["value"], a["source"]),
         None, False),

    "steps.get_step": (lambda db, a: db.steps.getStep(stepid=a["stepid"]), "step", False),
    "steps.get_step_by_number":
        (lambda db, a: db.steps.getStep(buildid=a["buildid"], number=a["number"]), "step", False),
    "steps.get_step_by_name":
        (lambda db, a: db.steps.getStep(buildid=a["buildid"], name=a["name"]), "step", False),
    "steps.get_steps": (lambda db, a: db.steps.getSteps(a["buildid"]), "step", False),
    "steps.add_step":
        (lambda db, a: db.steps.addStep(a["buildid"], a["name"], a["state_string"]), "step", False),
    "steps.start_step": (lambda db, a: db.steps.startStep(a["stepid"]), None, False),
    "steps.set_step_state_string":
        (lambda db, a: db.steps.setStepStateString(a["stepid"], a["state_string"]), None, False),
    "steps.finish_step":
        (lambda db, a: db.steps.finishStep(a["stepid"], a["results"], a["hidden"]), None, False),
    "steps.add_url": (lambda db, a: db.steps.addURL(a["stepid"], a["name"], a["url"]), None, False),

    "logs.get_log": (lambda db, a: db.logs.getLog(a["logid"]), "log", False),
    "logs.get_log_by_slug":
        (lambda db, a: db.logs.getLogBySlug(a["stepid"], a["slug"]), "log", False),
    "logs.get_logs": (lambda db, a: db.logs.getLogs(a.get("stepid")), "log", False),
    "logs.get_log_lines":
        (lambda db, a: db.logs.getLogLines(a["logid"], a["first_line"], a["last_line"]),
         None, False),
    "logs.add_log":
        (lambda db, a: db.logs.addLog(a["stepid"], a["name"], a["slug"], a["type"]), "log", False),
    "logs.append_log": (lambda db, a: db.logs.appendLog(a["logid"], a["content"]), None, False),
    "logs.finish_log": (lambda db, a: db.logs.finishLog(a["logid"]), None, False),
    "logs.compress_log": (lambda db, a: db.logs.compressLog(a["logid"]), None, False),
    "logs.delete_old_log_chunks":
        (lambda db, a: db.logs.deleteOldLogChunks(a["older_than_timestamp"]), None, False),

    "changes.add_change": (_add_change, "change", False),
    "changes.get_change": (lambda db, a: db.changes.getChange(a["changeid"]), "change", False),
    "changes.get_change_uids":
        (lambda db, a: db.changes.getChangeUids(a["changeid"]), "user", True),
    "changes.get_changes": (lambda db, a: db.changes.getChanges(resultSpec=spec(a)), "change", True),
    "changes.get_changes_count": (lambda db, a: db.changes.getChangesCount(), None, False),
    "changes.get_latest_change_id":
        (lambda db, a: db.changes.getLatestChangeid(), "change", False),
    "changes.get_parent_change_ids":
        (lambda db, a: db.changes.getParentChangeIds(a.get("branch"), a["repository"],
                                                     a["project"], a["codebase"]), "change", False),
    "changes.get_changes_for_build":
        (lambda db, a: db.changes.getChangesForBuild(a["buildid"]), "change", False),
    "changes.get_change_from_ssid":
        (lambda db, a: db.changes.getChangeFromSSid(a["sourcestampid"]), "change", False),
    "changes.prune_changes": (lambda db, a: db.changes.pruneChanges(a["changeHorizon"]), None, False),

    "changesources.find_change_source_id":
        (lambda db, a: db.changesources.findChangeSourceId(a["name"]), "changesource", False),
    "changesources.set_change_source_master":
        (lambda db, a: db.changesources.setChangeSourceMaster(a["changesourceid"],
                                                              a.get("masterid")), None, False),
    "changesources.get_change_source":
        (lambda db, a: db.changesources.getChangeSource(a["changesourceid"]), "changesource", False),
    "changesources.get_change_sources":
        (lambda db, a: db.changesources.getChangeSources(**a), "changesource", True),

    "schedulers.classify_changes":
        (lambda db, a: db.schedulers.classifyChanges(
            a["schedulerid"], {int(k): v for k, v in a["classifications"].items()}), None, False),
    "schedulers.flush_change_classifications":
        (lambda db, a: db.schedulers.flushChangeClassifications(
            a["schedulerid"], less_than=a.get("less_than")), None, False),
    "schedulers.get_change_classifications": (_get_change_classifications, None, False),
    "schedulers.find_scheduler_id":
        (lambda db, a: db.schedulers.findSchedulerId(a["name"]), "scheduler", False),
    "schedulers.set_scheduler_master":
        (lambda db, a: db.schedulers.setSchedulerMaster(a["schedulerid"], a.get("masterid")),
         None, False),
    "schedulers.enable": (lambda db, a: db.schedulers.enable(a["schedulerid"], a["v"]), None, False),
    "schedulers.get_scheduler":
        (lambda db, a: db.schedulers.getScheduler(a["schedulerid"]), "scheduler", False),
    "schedulers.get_schedulers":
        (lambda db, a: db.schedulers.getSchedulers(**a), "scheduler", True),

    "users.find_user_by_attr":
        (lambda db, a: db.users.findUserByAttr(a["identifier"], a["attr_type"], a["attr_data"]),
         "user", False),
    "users.get_user": (lambda db, a: db.users.getUser(a["uid"]), "user", False),
    "users.get_user_by_username":
        (lambda db, a: db.users.getUserByUsername(a["username"]), "user", False),
    "users.get_users": (lambda db, a: db.users.getUsers(), "user", True),
    "users.update_user": (lambda db, a: db.users.updateUser(**a), None, False),
    "users.remove_user": (lambda db, a: db.users.removeUser(a["uid"]), None, False),
    "users.identifier_to_uid":
        (lambda db, a: db.users.identifierToUid(a["identifier"]), "user", False),

    # Buildbot 3.7's newer data: build data and test results.
    "build_data.set_build_data":
        (lambda db, a: db.build_data.setBuildData(a["buildid"], a["name"],
                                                  a["value"].encode(), a["source"]), None, False),
    "build_data.get_build_data":
        (lambda db, a: db.build_data.getBuildData(a["buildid"], a["name"]), None, False),
    "build_data.get_build_data_no_value":
        (lambda db, a: db.build_data.getBuildDataNoValue(a["buildid"], a["name"]), None, False),
    "build_data.get_all_build_data_no_values":
        (lambda db, a: db.build_data.getAllBuildDataNoValues(a["buildid"]), None, True),
    "build_data.delete_old_build_data":
        (lambda db, a: db.build_data.deleteOldBuildData(a["older_than_timestamp"]), None, False),
    "test_result_sets.add_test_result_set":
        (lambda db, a: db.test_result_sets.addTestResultSet(
            a["builderid"], a["buildid"], a["stepid"], a["description"], a["category"],
            a["value_unit"]), "trs", False),
    "test_result_sets.get_test_result_set":
        (lambda db, a: db.test_result_sets.getTestResultSet(a["test_result_setid"]), "trs", False),
    "test_result_sets.get_test_result_sets":
        (lambda db, a: db.test_result_sets.getTestResultSets(**a), "trs", True),
    "test_result_sets.complete_test_result_set":
        (lambda db, a: db.test_result_sets.completeTestResultSet(**a), None, False),
    "test_results.add_test_results":
        (lambda db, a: db.test_results.addTestResults(a["builderid"], a["test_result_setid"],
                                                      a["result_values"]), None, False),
    "test_results.get_test_results":
        (lambda db, a: db.test_results.getTestResults(a["builderid"], a["test_result_setid"]),
         "tr", True),
    "test_results.get_test_names":
        (lambda db, a: db.test_results.getTestNames(a["builderid"]), None, True),
    "test_results.get_test_code_paths":
        (lambda db, a: db.test_results.getTestCodePaths(a["builderid"]), None, True),
}


def component_of(call):
    return call.split(".", 1)[0]


# ------------------------------------------------------------------------------------ generator


# Buildbot retries these inserts for ever when the database refuses them (it takes any
# IntegrityError for a lost race): where foreign keys are enforced (PostgreSQL, MySQL), they are
# made only with rows that exist.
LOOPS_ON_MISSING_ROW = {"builds.add_build", "build_data.set_build_data", "test_results.add_test_results"}


class Gen:
    """Makes the next call from what Buildbot's answers so far created (in Buildbot's ids).
    Mostly existing objects, sometimes missing ones, duplicates and bad values."""

    def __init__(self, rng, components, backend="sqlite"):
        self.r = rng
        self.backend = backend
        self.components = components
        self.ids = collections.defaultdict(list)  # kind -> ids Buildbot created
        # Rows that a deliberate difference left different on the two sides (e.g. a build
        # Buildbot created for a missing builder on SQLite, and we refused): never used again,
        # so that one expected difference does not make every later call on that row differ.
        self.tainted = collections.defaultdict(set)
        self.names = collections.defaultdict(list)
        self.brs = {}  # brid -> {"builderid", "claimed_by", "complete"}
        self.builds = {}  # buildid -> {"builderid", "number", "brid"}
        self.steps = {}  # stepid -> buildid
        self.logs = {}  # logid -> {"lines": n, "type": t}
        self.usernames = []
        self.builder_masters = set()  # (builderid, masterid) links both sides hold
        self.trs_builder = {}  # test result set id -> its builderid
        self.only_buildbot_deletes = []  # see logs_only_buildbot_deletes
        self.deletes_differing_log = False
        self.logs_with_empty_line = set()  # logs whose chunks differ (one-empty-line appends)
        self.compress_renumbers = False  # see log_starts_after_line_zero
        self.data_deleted_differently = []  # see builds_with_data
        self.build_data_tainted = set()  # builds whose build data differs
        self.complete_bs = set()  # buildsets Buildbot completed
        self.attrs = {}  # (attr_type, attr_data) -> uid, as Buildbot stored them
        self.holders = {}  # ("scheduler" | "changesource", id) -> the master running it
        self.master_active = {}  # masterid -> active
        self.state_names = ["last", "rev", "count", "x"]
        self.makers = [(w, f) for (w, c, f) in self.table() if c in components]

    # ---- picking
    def pick(self, kind, missing=0.08):
        lst = self.ids[kind]
        if not lst or self.r.random() < missing:
            # Far above every id either side will create: a row that Buildbot stores for a missing
            # id on SQLite (no foreign keys) must not be adopted by a row it creates later with
            # that id (one expected difference would make every later call on that row differ).
            top = max(lst + list(self.tainted[kind]) + [MISSING_BASE])
            return top + self.r.randint(1, 50)
        return self.r.choice(lst)

    # The argument naming the row a write changes (the first of these that the call has).
    TARGETS = ["brids", "stepid", "logid", "test_result_setid", "buildid", "bsid", "workerid",
               "changesourceid", "schedulerid", "uid", "objectid", "builderid", "masterid"]

    def taint(self, args, result):
        """Takes out of use the row a differing write touched: the row it created (its result)
        or, for other writes, the row it changed."""
        call = self.last_call
        verb = call.split(".")[1]
        kind = CALLS[call][1]
        if call == "buildsets.add_buildset":
            if result:
                self.taint_id("bs", result[0])
                for brid in result[1].values():
                    self.taint_id("br", brid)
            return
        creates = kind is not None  # add_builder_master, add_test_results, ...: no new id
        if creates and (verb.startswith("add_") or verb.startswith("find_") or
                        verb == "get_object_id"):
            if isinstance(result, (list, tuple)) and result and kind:
                self.taint_id(kind, result[0])  # add_build, add_step: (id, number, ...)
            elif isinstance(result, int) and kind:
                self.taint_id(kind, result)
            return
        for key in self.TARGETS:
            if key in args:
                vals = args[key] if isinstance(args[key], list) else [args[key]]
                for v in vals:
                    if isinstance(v, int) and not isinstance(v, bool):
                        self.taint_id(ID_KEYS[key], v)
                return

    def untaint(self, kind, v):
        """The row is gone from both sides again (delete_created): its id may be reused."""
        self.tainted[kind].discard(v)

    def without_tainted(self, kind, v):
        """A read's records (in Buildbot's ids) without those of rows a deliberate difference
        left different on the two sides (see taint): a record of one is read as absent."""
        def tainted(x):
            return isinstance(x, dict) and x.get("id") in self.tainted[kind]
        if isinstance(v, list):
            return [x for x in v if not tainted(x)]
        return None if tainted(v) else v

    def taint_id(self, kind, v):
        self.tainted[kind].add(v)
        if v in self.ids[kind]:
            self.ids[kind].remove(v)
        if kind == "br":
            self.brs.pop(v, None)
        if kind == "build":
            self.builds.pop(v, None)
        if kind == "step":
            self.steps.pop(v, None)

    def name(self, kind, bad=0.05):
        r = self.r.random()
        if r < bad:
            return self.r.choice(["", "has space", "x" * 60, "caf\u00e9", "9lives", "a-b"])
        if self.names[kind] and r < 0.4:
            return self.r.choice(self.names[kind])
        n = f"{kind}{self.r.randint(0, 40)}"
        if n not in self.names[kind]:
            self.names[kind].append(n)
        return n

    def text(self):
        return self.r.choice(["", "ok", "building", "compile failed", "\u00e9t\u00e9 \u2713",
                              "line1\nline2", "x" * 300])

    def results(self):
        return self.r.choice([0, 0, 0, 1, 2, 3, 4, 5, 6])

    def ssdict(self):
        d = {"branch": self.r.choice([None, "main", "dev", "release/1"]),
             "revision": self.r.choice([None, "abc123", "def456", f"r{self.r.randint(0, 9)}"]),
             "repository": self.r.choice(["", "https://git/a", "https://git/b"]),
             "project": self.r.choice(["", "proj"]),
             "codebase": self.r.choice(["", "cb1"])}
        if self.r.random() < 0.1:
            # Mostly complete patches: Buildbot's columns refuse a null level, author or comment.
            full = self.r.random() < 0.85
            d.update(patch_body="diff --git a b\n+x\n",
                     patch_level=self.r.choice([0, 1]) if full else None,
                     patch_author="ann" if full else self.r.choice([None, "ann"]),
                     patch_comment="fix" if full else self.r.choice([None, "fix"]),
                     patch_subdir=self.r.choice([None, "sub"]))
        return d

    def props(self, source="test"):
        out = {}
        for _ in range(self.r.randint(0, 3)):
            out[self.r.choice(["a", "b", "prio", "\u00fc"])] = [
                self.r.choice([1, "x", [1, 2], {"k": "v"}, None, True, 2.5]), source]
        return out

    # ---- the table: (weight, component, maker)
    def table(self):
        return [
            (3, "masters", lambda: ("masters.find_master_id", {"name": self.name("master")})),
            (3, "masters", lambda: ("masters.set_master_state",
                                    {"masterid": self.pick("master"),
                                     "active": self.r.random() < 0.75})),
            (2, "masters", lambda: ("masters.get_master", {"masterid": self.pick("master")})),
            (1, "masters", lambda: ("masters.get_masters", {})),
            (0.1, "masters", lambda: ("masters.set_all_masters_active_long_time_ago", {})),

            (3, "builders", lambda: ("builders.find_builder_id",
                                     {"name": self.name("builder"),
                                      "autoCreate": self.r.random() < 0.9})),
            (3, "builders", lambda: ("builders.add_builder_master",
                                     {"builderid": self.pick("builder", 0.03),
                                      "masterid": self.pick("master", 0.03)})),
            (1, "builders", lambda: ("builders.remove_builder_master",
                                     {"builderid": self.pick("builder"),
                                      "masterid": self.pick("master")})),
            (2, "builders", lambda: ("builders.get_builder", {"builderid": self.pick("builder")})),
            (1, "builders", lambda: ("builders.get_builders",
                                     {"masterid": self.pick("master")} if self.r.random() < 0.5
                                     else {})),
            (1, "builders", lambda: ("builders.update_builder_info",
                                     {"builderid": self.pick("builder"),
                                      "description": self.r.choice([None, "desc", "\u00e9"]),
                                      "tags": self.r.choice([[], [], ["fast"], ["a", "b"]])})),

            (2, "workers", lambda: ("workers.find_worker_id", {"name": self.name("worker")})),
            (1, "workers", lambda: ("workers.get_workers", self.worker_filter(True))),
            (2, "workers", lambda: ("workers.get_worker", self.get_worker_args())),
            (2, "workers", lambda: ("workers.worker_connected",
                                    {"workerid": self.pick("worker", 0.03),
                                     "masterid": self.pick("master", 0.03),
                                     "workerinfo": self.r.choice([{}, {"os": "linux"},
                                                                  {"n": 1, "l": [1]}])})),
            (1, "workers", lambda: ("workers.worker_disconnected",
                                    {"workerid": self.pick("worker"),
                                     "masterid": self.pick("master")})),
            (2, "workers", lambda: ("workers.worker_configured",
                                    {"workerid": self.pick("worker", 0.03),
                                     "masterid": self.pick("master", 0.03),
                                     "builderids": sorted({self.pick("builder", 0.03)
                                                           for _ in range(self.r.randint(0, 3))})})),
            (0.3, "workers", lambda: ("workers.deconfigure_all_workers_for_master",
                                      {"masterid": self.pick("master")})),
            (1, "workers", lambda: ("workers.set_worker_state",
                                    {"workerid": self.pick("worker"),
                                     "paused": self.r.random() < 0.5,
                                     "graceful": self.r.random() < 0.5})),

            (2, "state", lambda: ("state.get_object_id",
                                  {"name": self.name("obj", 0.02),
                                   "class_name": self.r.choice(["Sched", "Poller", ""])})),
            (2, "state", lambda: ("state.get_state", self.get_state_args())),
            (2, "state", lambda: ("state.set_state",
                                  {"objectid": self.pick("object"),
                                   "name": self.r.choice(self.state_names),
                                   "value": self.r.choice([1, "s", [1, 2], {"a": None}, None,
                                                           2.5, True])})),
            (1, "state", lambda: ("state.atomic_create_state",
                                  {"objectid": self.pick("object"),
                                   "name": self.r.choice(self.state_names),
                                   "value": self.r.choice([7, "new"])})),

            (3, "sourcestamps", lambda: ("sourcestamps.find_source_stamp_id", self.ssdict())),
            (2, "sourcestamps", lambda: ("sourcestamps.get_source_stamp", {"ssid": self.pick("ss")})),
            (0.5, "sourcestamps", lambda: ("sourcestamps.get_source_stamps", {})),
            (1, "sourcestamps", lambda: ("sourcestamps.get_source_stamps_for_build",
                                         {"buildid": self.pick("build")})),

            (4, "buildsets", lambda: ("buildsets.add_buildset", self.buildset_args())),
            (1, "buildsets", lambda: ("buildsets.complete_buildset",
                                      {"bsid": self.pick("bs"), "results": self.results()})),
            (2, "buildsets", lambda: ("buildsets.get_buildset", {"bsid": self.pick("bs")})),
            (1, "buildsets", lambda: ("buildsets.get_buildsets", self.opt_complete())),
            (1, "buildsets", lambda: ("buildsets.get_recent_buildsets", self.recent_args())),
            (1, "buildsets", lambda: ("buildsets.get_buildset_properties",
                                      {"bsid": self.pick("bs")})),

            (2, "buildrequests", lambda: ("buildrequests.get_build_request",
                                          {"brid": self.pick("br")})),
            (2, "buildrequests", lambda: ("buildrequests.get_build_requests", self.br_filter())),
            (4, "buildrequests", lambda: ("buildrequests.claim_build_requests",
                                          {"brids": self.some("br"),
                                           "masterid": self.pick("master", 0.02)})),
            (1, "buildrequests", lambda: ("buildrequests.unclaim_build_requests",
                                          {"brids": self.some("br"),
                                           "masterid": self.pick("master", 0.02)})),
            (3, "buildrequests", lambda: ("buildrequests.complete_build_requests",
                                          self.complete_br_args())),

            (2, "builds", lambda: ("builds.get_build", {"buildid": self.pick("build")})),
            (1, "builds", lambda: ("builds.get_build_by_number", self.build_by_number())),
            (1, "builds", lambda: ("builds.get_builds", self.builds_filter())),
            (1, "builds", lambda: ("builds.get_prev_successful_build", self.prev_args())),
            (0.5, "builds", lambda: ("builds.get_builds_for_change",
                                     {"changeid": self.pick("change")})),
            (4, "builds", lambda: ("builds.add_build", self.add_build_args())),  # noqa: E501
            (1, "builds", lambda: ("builds.set_build_state_string",
                                   {"buildid": self.pick("build"), "state_string": self.text()})),
            (2, "builds", lambda: ("builds.finish_build",
                                   {"buildid": self.pick("build"), "results": self.results()})),
            (1, "builds", lambda: ("builds.get_build_properties", {"buildid": self.pick("build")})),
            (1, "builds", lambda: ("builds.set_build_property",
                                   {"buildid": self.pick("build"),
                                    "name": self.r.choice(["a", "b", "got_revision"]),
                                    "value": self.r.choice([1, "x", [1], {"k": 2}]),
                                    "source": self.r.choice(["Step", "Build", ""])})),

            (2, "steps", lambda: ("steps.get_step", {"stepid": self.pick("step")})),
            (1, "steps", lambda: ("steps.get_step_by_number",
                                  {"buildid": self.pick("build"),
                                   "number": self.r.randint(0, 4)})),
            (1, "steps", lambda: ("steps.get_step_by_name",
                                  {"buildid": self.pick("build"),
                                   "name": self.r.choice(["compile", "test", "compile_1"])})),
            (1, "steps", lambda: ("steps.get_steps", {"buildid": self.pick("build")})),
            (4, "steps", lambda: ("steps.add_step",
                                  {"buildid": self.pick("build", 0.03),
                                   "name": self.r.choice(["compile", "compile", "test", "x" * 50,
                                                          "bad name", "compile_1"]),
                                   "state_string": self.r.choice(["pending", ""])})),
            (2, "steps", lambda: ("steps.start_step", {"stepid": self.pick("step")})),
            (1, "steps", lambda: ("steps.set_step_state_string",
                                  {"stepid": self.pick("step"), "state_string": self.text()})),
            (2, "steps", lambda: ("steps.finish_step",
                                  {"stepid": self.pick("step"), "results": self.results(),
                                   "hidden": self.r.random() < 0.2})),
            (1, "steps", lambda: ("steps.add_url",
                                  {"stepid": self.pick("step"),
                                   "name": self.r.choice(["log", "cov"]),
                                   "url": self.r.choice(["http://a", "http://b"])})),

            (2, "logs", lambda: ("logs.get_log", {"logid": self.pick("log")})),
            (1, "logs", lambda: ("logs.get_log_by_slug",
                                 {"stepid": self.pick("step"),
                                  "slug": self.r.choice(["stdio", "err", "x"])})),
            (1, "logs", lambda: ("logs.get_logs", {"stepid": self.pick("step")})),
            (2, "logs", lambda: ("logs.get_log_lines", self.log_lines_args())),
            (3, "logs", lambda: ("logs.add_log",
                                 {"stepid": self.pick("step", 0.03),
                                  "name": self.r.choice(["stdio", "err", "Build Log"]),
                                  "slug": self.r.choice(["stdio", "err", "x", "bad slug"]),
                                  "type": self.r.choice(["s", "s", "t", "h", "z"])})),
            (4, "logs", lambda: ("logs.append_log",
                                 {"logid": self.pick("log"),
                                  "content": self.r.choice(["one\n", "a\nb\nc\n", "\n",
                                                            "\u00e9\n", "y" * 100 + "\n",
                                                            "no newline"])})),
            (1, "logs", lambda: ("logs.finish_log", {"logid": self.pick("log")})),
            (0.5, "logs", lambda: ("logs.compress_log", {"logid": self.pick("log")})),
            (0.2, "logs", lambda: ("logs.delete_old_log_chunks",
                                   {"older_than_timestamp": self.now - self.r.randint(0, 200)})),

            (4, "changes", lambda: ("changes.add_change", self.change_args())),
            (2, "changes", lambda: ("changes.get_change", {"changeid": self.pick("change")})),
            (1, "changes", lambda: ("changes.get_change_uids", {"changeid": self.pick("change")})),
            (0.5, "changes", lambda: ("changes.get_changes", {})),
            (0.5, "changes", lambda: ("changes.get_changes_count", {})),
            (0.5, "changes", lambda: ("changes.get_latest_change_id", {})),
            (1, "changes", lambda: ("changes.get_parent_change_ids",
                                    {"branch": self.r.choice([None, "main"]),
                                     "repository": self.r.choice(["", "https://git/a"]),
                                     "project": "", "codebase": ""})),
            (1, "changes", lambda: ("changes.get_changes_for_build",
                                    {"buildid": self.pick("build", 0.02)})),
            (1, "changes", lambda: ("changes.get_change_from_ssid",
                                    {"sourcestampid": self.pick("ss")})),
            (0.1, "changes", lambda: ("changes.prune_changes",
                                      {"changeHorizon": self.r.randint(1, 20)})),

            (2, "changesources", lambda: ("changesources.find_change_source_id",
                                          {"name": self.name("cs", 0.02)})),
            (2, "changesources", lambda: ("changesources.set_change_source_master",
                                          {"changesourceid": self.pick("changesource"),
                                           "masterid": self.pick("master")
                                           if self.r.random() < 0.8 else None})),
            (1, "changesources", lambda: ("changesources.get_change_source",
                                          {"changesourceid": self.pick("changesource")})),
            (1, "changesources", lambda: ("changesources.get_change_sources",
                                          self.active_filter())),

            (2, "schedulers", lambda: ("schedulers.find_scheduler_id",
                                       {"name": self.name("sched", 0.02)})),
            (2, "schedulers", lambda: ("schedulers.set_scheduler_master",
                                       {"schedulerid": self.pick("scheduler"),
                                        "masterid": self.pick("master")
                                        if self.r.random() < 0.8 else None})),
            (1, "schedulers", lambda: ("schedulers.enable",
                                       {"schedulerid": self.pick("scheduler"),
                                        "v": self.r.random() < 0.5})),
            (1, "schedulers", lambda: ("schedulers.get_scheduler",
                                       {"schedulerid": self.pick("scheduler")})),
            (1, "schedulers", lambda: ("schedulers.get_schedulers", self.active_filter())),
            (2, "schedulers", lambda: ("schedulers.classify_changes",
                                       {"schedulerid": self.pick("scheduler", 0.03),
                                        "classifications": {
                                            str(self.pick("change", 0.03)): self.r.random() < 0.5
                                            for _ in range(self.r.randint(1, 3))}})),
            (1, "schedulers", lambda: ("schedulers.flush_change_classifications",
                                       {"schedulerid": self.pick("scheduler"),
                                        **({"less_than": self.pick("change")}
                                           if self.r.random() < 0.5 else {})})),
            (2, "schedulers", lambda: ("schedulers.get_change_classifications",
                                       self.classification_filter())),

            (3, "users", lambda: ("users.find_user_by_attr",
                                  {"identifier": self.r.choice(["alice", "bob", "alice_1",
                                                                "carol2", "\u00e9ve"]),
                                   "attr_type": self.r.choice(["git", "irc", "email"]),
                                   "attr_data": self.r.choice(["a@x", "b@x", "c@x", "alice"])})),
            (2, "users", lambda: ("users.get_user", {"uid": self.pick("user")})),
            (1, "users", lambda: ("users.get_user_by_username",
                                  {"username": self.r.choice(self.usernames or ["nobody"])})),
            (1, "users", lambda: ("users.get_users", {})),
            (2, "users", lambda: ("users.update_user", self.update_user_args())),
            (0.5, "users", lambda: ("users.remove_user", {"uid": self.pick("user")})),
            (1, "users", lambda: ("users.identifier_to_uid",
                                  {"identifier": self.r.choice(["alice", "bob", "alice_1",
                                                                "alice_2", "zed"])})),

            (1, "build_data", lambda: ("build_data.set_build_data",
                                       {"buildid": self.pick("build"),
                                        "name": self.r.choice(["cov", "art"]),
                                        "value": self.r.choice(["v1", "value two"]),
                                        "source": "Step"})),
            (1, "build_data", lambda: ("build_data.get_build_data",
                                       {"buildid": self.pick("build"),
                                        "name": self.r.choice(["cov", "art"])})),
            (0.5, "build_data", lambda: ("build_data.get_build_data_no_value",
                                         {"buildid": self.pick("build"), "name": "cov"})),
            (0.5, "build_data", lambda: ("build_data.get_all_build_data_no_values",
                                         {"buildid": self.pick("build")})),
            (0.1, "build_data", lambda: ("build_data.delete_old_build_data",
                                         {"older_than_timestamp": self.now - 100})),
            (1, "test_results", lambda: ("test_result_sets.add_test_result_set",
                                         self.trs_args())),
            (1, "test_results", lambda: ("test_result_sets.get_test_result_set",
                                         {"test_result_setid": self.pick("trs")})),
            (0.5, "test_results", lambda: ("test_result_sets.get_test_result_sets",
                                           {"builderid": self.pick("builder")})),
            (0.5, "test_results", lambda: ("test_result_sets.complete_test_result_set",
                                           {"test_result_setid": self.pick("trs"),
                                            "tests_passed": self.r.randint(0, 5),
                                            "tests_failed": self.r.randint(0, 2)})),
            (1, "test_results", lambda: ("test_results.add_test_results",
                                         {"builderid": self.pick("builder"),
                                          "test_result_setid": self.pick("trs"),
                                          "result_values": [
                                              {"test_name": self.r.choice(["t1", "t2"]),
                                               "value": str(self.r.randint(0, 9))}]})),
            (0.5, "test_results", lambda: ("test_results.get_test_results",
                                           {"builderid": self.pick("builder"),
                                            "test_result_setid": self.pick("trs")})),
            (0.3, "test_results", lambda: ("test_results.get_test_names",
                                           {"builderid": self.pick("builder")})),
            (0.3, "test_results", lambda: ("test_results.get_test_code_paths",
                                           {"builderid": self.pick("builder")})),
        ]

    # ---- argument helpers
    def some(self, kind):
        return sorted({self.pick(kind, 0.03) for _ in range(self.r.randint(1, 3))})

    def opt_complete(self):
        return self.r.choice([{}, {"complete": True}, {"complete": False}])

    def worker_filter(self, full):
        a = {}
        if self.r.random() < 0.3:
            a["masterid"] = self.pick("master")
        if self.r.random() < 0.3:
            a["builderid"] = self.pick("builder")
        if full and self.r.random() < 0.2:
            a["paused"] = self.r.random() < 0.5
        if full and self.r.random() < 0.2:
            a["graceful"] = self.r.random() < 0.5
        return a

    def get_worker_args(self):
        a = self.worker_filter(False)
        if self.r.random() < 0.5:
            a["workerid"] = self.pick("worker")
        else:
            a["name"] = self.name("worker", 0)
        return a

    def get_state_args(self):
        a = {"objectid": self.pick("object"), "name": self.r.choice(self.state_names)}
        if self.r.random() < 0.5:
            a["default"] = self.r.choice([None, 0, "d"])
        return a

    def buildset_args(self):
        sss = []
        for _ in range(self.r.randint(1, 2)):
            if self.ids["ss"] and self.r.random() < 0.5:
                sss.append(self.pick("ss", 0.02))
            else:
                sss.append(self.ssdict())
        builders = sorted({self.pick("builder", 0.02) for _ in range(self.r.randint(1, 3))})
        a = {"sourcestamps": sss, "reason": self.r.choice(["because", "", "forced"]),
             "properties": self.props(), "builderids": builders,
             "waited_for": self.r.random() < 0.3}
        if self.r.random() < 0.3:
            a["external_idstring"] = self.r.choice(["ext", "x" * 300])
        if self.r.random() < 0.2 and self.ids["build"]:
            a["parent_buildid"] = self.pick("build")
            a["parent_relationship"] = "child"
        if self.r.random() < 0.1:
            a["submitted_at"] = self.now - 1000
        return a

    def recent_args(self):
        a = {"count": self.r.randint(0, 5)}
        if self.r.random() < 0.3:
            a["branch"] = self.r.choice(["main", "dev"])
        if self.r.random() < 0.3:
            a["repository"] = self.r.choice(["https://git/a", ""])
        a.update(self.opt_complete())
        return a

    def br_filter(self):
        a = {}
        if self.r.random() < 0.3:
            a["builderid"] = self.pick("builder")
        a.update(self.opt_complete())
        c = self.r.random()
        if c < 0.2:
            a["claimed"] = True
        elif c < 0.4:
            a["claimed"] = False
        elif c < 0.5:
            a["claimed"] = self.pick("master")
        if self.r.random() < 0.2:
            a["bsid"] = self.pick("bs")
        if self.r.random() < 0.15:
            a["branch"] = self.r.choice(["main", "dev"])
        if self.r.random() < 0.15:
            a["repository"] = self.r.choice(["https://git/a", "https://git/b"])
        return a

    def complete_br_args(self):
        # Mostly the master that holds the claims (so that the call can succeed).
        mine = [b for b, s in self.brs.items() if s["claimed_by"] and not s["complete"]]
        if mine and self.r.random() < 0.8:
            brid = self.r.choice(mine)
            master = self.brs[brid]["claimed_by"]
            if self.r.random() < 0.1:
                master = self.pick("master")
            brids = [brid]
        else:
            brids = self.some("br")
            master = self.pick("master")
        return {"brids": brids, "masterid": master, "results": self.results()}

    def build_by_number(self):
        if self.builds and self.r.random() < 0.8:
            b = self.builds[self.r.choice(list(self.builds))]
            return {"builderid": b["builderid"], "number": b["number"]}
        return {"builderid": self.pick("builder"), "number": self.r.randint(0, 5)}

    def builds_filter(self):
        a = {}
        for k, kind in (("builderid", "builder"), ("buildrequestid", "br"), ("workerid", "worker")):
            if self.r.random() < 0.2:
                a[k] = self.pick(kind)
        a.update(self.opt_complete())
        return a

    def prev_args(self):
        b = self.build_by_number()
        stamps = [{k: v for k, v in self.ssdict().items() if not k.startswith("patch")}
                  for _ in range(self.r.randint(1, 2))]
        return {"builderid": b["builderid"], "number": b["number"] + 1, "sourcestamps": stamps}

    def add_build_args(self):
        if self.brs and self.r.random() < 0.9:
            brid = self.r.choice(list(self.brs))
            builderid = self.brs[brid]["builderid"]
            master = self.brs[brid]["claimed_by"] or self.pick("master")
        else:
            brid, builderid, master = self.pick("br"), self.pick("builder"), self.pick("master")
        # Buildbot's addBuild retries a refused insert with the next number, for ever: where the
        # database enforces foreign keys, a missing builder, request, worker or master would
        # hang it, so those are tried on SQLite only.
        if self.backend != "sqlite":
            if not self.ids["br"] or not self.ids["master"]:
                return None

            def exists(kind, v):
                return v if v in self.ids[kind] else (self.r.choice(self.ids[kind])
                                                      if self.ids[kind] else v)
            brid = exists("br", brid)
            builderid = self.brs.get(brid, {}).get("builderid", builderid)
            master = exists("master", master)
        worker = self.pick("worker", 0.02 if self.backend == "sqlite" else 0)
        if self.backend != "sqlite" and worker not in self.ids["worker"]:
            worker = None
        return {"builderid": builderid, "buildrequestid": brid,
                "workerid": worker if self.r.random() < 0.9 else None,
                "masterid": master, "state_string": self.r.choice(["created", "starting"])}

    def log_lines_args(self):
        logid = self.pick("log")
        n = self.logs.get(logid, {}).get("lines", 3)
        first = self.r.randint(-1, n + 1)
        return {"logid": logid, "first_line": first, "last_line": first + self.r.randint(-1, 4)}

    def change_args(self):
        a = {"author": self.r.choice(["ann <a@x>", "bob", "\u00e9ric"]),
             "files": self.r.sample(["z.c", "a.c", "m/k.h", "b.txt"], self.r.randint(0, 3)),
             "comments": self.r.choice(["fix", "", "multi\nline"]),
             "revision": self.r.choice([None, "abc123", f"r{self.r.randint(0, 20)}"]),
             "branch": self.r.choice([None, "main", "main", "dev"]),
             "repository": self.r.choice(["", "https://git/a"]),
             "project": "", "codebase": ""}
        if self.r.random() < 0.5:
            a["committer"] = self.r.choice(["ann", None])
        if self.r.random() < 0.4:
            a["revlink"] = self.r.choice(["http://rev", ""])
        if self.r.random() < 0.3:
            a["category"] = "cat"
        if self.r.random() < 0.3:
            # Buildbot asserts that a change's properties come from "Change".
            a["properties"] = self.props("Change" if self.r.random() < 0.9 else "other")
        if self.r.random() < 0.3:
            a["when_timestamp"] = self.now - self.r.randint(0, 10000)
        if self.r.random() < 0.2:
            a["uid"] = self.pick("user", 0.05)
        return a

    def active_filter(self):
        a = {}
        c = self.r.random()
        if c < 0.25:
            a["active"] = True
        elif c < 0.5:
            a["active"] = False
        if self.r.random() < 0.3:
            a["masterid"] = self.pick("master")
        return a

    def classification_filter(self):
        a = {"schedulerid": self.pick("scheduler")}
        c = self.r.random()
        if c < 0.2:
            a["branch"] = None
        elif c < 0.4:
            a["branch"] = self.r.choice(["main", "dev"])
        if self.r.random() < 0.1:
            a["repository"] = "https://git/a"
        return a

    def update_user_args(self):
        a = {"uid": self.pick("user")}
        c = self.r.random()
        if c < 0.3:
            a["identifier"] = self.r.choice(["alice", "newname", "bob"])
        elif c < 0.6:
            a["bb_username"] = self.r.choice(["al", "bo"])
            a["bb_password"] = "hash"
        else:
            a["attr_type"] = self.r.choice(["git", "irc", "identifier"])
            a["attr_data"] = self.r.choice(["a@x", "new@x"])
        return a

    def trs_args(self):
        stepid = self.pick("step")
        buildid = self.steps.get(stepid, self.pick("build"))
        builderid = self.builds.get(buildid, {}).get("builderid", self.pick("builder"))
        return {"builderid": builderid, "buildid": buildid, "stepid": stepid,
                "description": "unit", "category": "pass_fail", "value_unit": "boolean"}

    # ---- the next call, and what Buildbot's answer created
    def next(self, now):
        self.now = now
        weights = [w for w, _ in self.makers]
        while True:
            _, maker = self.r.choices(self.makers, weights=weights)[0]
            call, args = maker()
            if args is None:  # no call of this kind makes sense yet
                continue
            if (self.backend != "sqlite" and call in LOOPS_ON_MISSING_ROW and
                    not self.all_exist(args)):
                continue
            return call, args

    def all_exist(self, args):
        for k, v in args.items():
            kind = ID_KEYS.get(k)
            if kind and isinstance(v, int) and not isinstance(v, bool) and v not in self.ids[kind]:
                return False
        return True

    def took_over(self, masterid):
        """The master's links and unfinished claims were released (takeover_housekeeping)."""
        for st in self.brs.values():
            if st["claimed_by"] == masterid and not st["complete"]:
                st["claimed_by"] = None
        self.builder_masters = {bm for bm in self.builder_masters if bm[1] != masterid}

    def observe(self, call, a, ok, res, tainted=False):
        self.last_call = call
        if tainted:
            # Only the ids the call touched; reads change nothing.
            if CALLS[call][1] is None or not call.split(".")[1].startswith("get"):
                self.taint(a, res if ok else None)
            return
        if not ok:
            return
        created = {"masters.find_master_id": "master", "builders.find_builder_id": "builder",
                   "workers.find_worker_id": "worker", "state.get_object_id": "object",
                   "sourcestamps.find_source_stamp_id": "ss", "changes.add_change": "change",
                   "changesources.find_change_source_id": "changesource",
                   "schedulers.find_scheduler_id": "scheduler",
                   "users.find_user_by_attr": "user", "logs.add_log": "log",
                   "test_result_sets.add_test_result_set": "trs"}
        kind = created.get(call)
        if kind and isinstance(res, int) and res in self.tainted[kind]:
            return
        if kind and isinstance(res, int) and res not in self.ids[kind]:
            self.ids[kind].append(res)
        if call == "logs.add_log":
            self.logs[res] = {"lines": 0}
        elif call == "logs.append_log" and res:
            self.logs.setdefault(a["logid"], {})["lines"] = res[1] + 1
            if a["content"] == "\n":
                # Buildbot stores no chunk for one empty line, we store it ("append_log(id,
                # "\n")" in docs/buildbot-compatibility.md, Logs): the log reads differently.
                self.taint_id("log", a["logid"])
                self.logs_with_empty_line.add(a["logid"])
        elif call == "buildsets.add_buildset":
            bsid, brids = res
            self.ids["bs"].append(bsid)
            for builderid, brid in brids.items():
                self.ids["br"].append(brid)
                self.brs[brid] = {"builderid": int(builderid), "claimed_by": None,
                                  "complete": False}
        elif call == "buildrequests.claim_build_requests":
            for b in a["brids"]:
                if b in self.brs:
                    self.brs[b]["claimed_by"] = a["masterid"]
        elif call == "buildrequests.unclaim_build_requests":
            for b in a["brids"]:
                if b in self.brs and self.brs[b]["claimed_by"] == a["masterid"]:
                    self.brs[b]["claimed_by"] = None
        elif call == "buildrequests.complete_build_requests":
            for b in a["brids"]:
                if b in self.brs:
                    self.brs[b]["complete"] = True
        elif call == "builds.add_build":
            self.ids["build"].append(res[0])
            self.builds[res[0]] = {"builderid": a["builderid"], "number": res[1],
                                   "brid": a["buildrequestid"]}
        elif call == "steps.add_step":
            self.ids["step"].append(res[0])
            self.steps[res[0]] = a["buildid"]
        elif call == "builders.add_builder_master":
            self.builder_masters.add((a["builderid"], a["masterid"]))
        elif call == "builders.remove_builder_master":
            self.builder_masters.discard((a["builderid"], a["masterid"]))
        elif call == "test_result_sets.add_test_result_set":
            self.trs_builder[res] = a["builderid"]
        elif call == "users.update_user" and "bb_username" in a:
            self.usernames.append(a["bb_username"])
        elif call == "users.update_user" and "attr_type" in a:
            key = (a["attr_type"], a["attr_data"])
            if self.attrs.get(key, a["uid"]) == a["uid"]:  # Buildbot keeps the other's silently
                for k in [k for k, u in self.attrs.items() if u == a["uid"] and k[0] == key[0]]:
                    del self.attrs[k]
                self.attrs[key] = a["uid"]
        elif call == "users.find_user_by_attr" and isinstance(res, int):
            self.attrs.setdefault((a["attr_type"], a["attr_data"]), res)
        elif call == "users.remove_user":
            if a["uid"] in self.ids["user"]:
                self.ids["user"].remove(a["uid"])
            for k in [k for k, u in self.attrs.items() if u == a["uid"]]:
                del self.attrs[k]
        elif call == "buildsets.complete_buildset":
            self.complete_bs.add(a["bsid"])
        elif call in ("schedulers.set_scheduler_master", "changesources.set_change_source_master"):
            key = HOLDER_KIND[call]
            if a.get("masterid") is None:
                self.holders.pop((key[0], a[key[1]]), None)
            else:
                self.holders[(key[0], a[key[1]])] = a["masterid"]
        elif call == "masters.set_master_state":
            self.master_active[a["masterid"]] = a["active"]
            if not a["active"]:  # its links go (ours in the same transaction)
                self.holders = {k: m for k, m in self.holders.items() if m != a["masterid"]}
        elif call == "masters.set_all_masters_active_long_time_ago":
            self.master_active = {m: True for m in self.ids["master"]}
        elif call == "changes.prune_changes" and a["changeHorizon"] > 0:
            # Buildbot keeps the newest changeHorizon changes (by id).
            keep = set(sorted(self.ids["change"] + list(self.tainted["change"]),
                              reverse=True)[:a["changeHorizon"]])
            self.ids["change"] = [c for c in self.ids["change"] if c in keep]


# ------------------------------------------------------------------------------------ undo
# When one of these calls fails on our side, ours wrote nothing (one transaction), but Buildbot
# may have written rows: the dangling rows of the unenforced foreign keys (SQLite, MySQL), the
# source stamps and patches its addBuildset / addChange create before their own transaction,
# or the classifications its per-change transactions kept. After the call the test brings
# Buildbot's rows back to what they were before it, so that one (counted) difference does not
# show again in every later list, count and id (docs/buildbot-compatibility.md, "References to
# rows that do not exist").

# Calls whose rows are restored from a snapshot of the rows they can touch.
def _undo_rows(m, call, a):
    if call == "buildrequests.claim_build_requests":
        t = m.buildrequest_claims
        return [(t, t.c.brid.in_(a["brids"]))]
    if call == "schedulers.set_scheduler_master":
        t = m.scheduler_masters
        return [(t, t.c.schedulerid == a["schedulerid"])]
    if call == "changesources.set_change_source_master":
        t = m.changesource_masters
        return [(t, t.c.changesourceid == a["changesourceid"])]
    if call == "schedulers.classify_changes":
        t = m.scheduler_changes
        return [(t, t.c.schedulerid == a["schedulerid"])]
    if call in ("state.set_state", "state.atomic_create_state"):
        t = m.object_state
        return [(t, (t.c.objectid == a["objectid"]) & (t.c.name == a["name"]))]
    if call == "users.update_user":
        t = m.users_info
        return [(t, t.c.uid == a["uid"])]
    return []


# Calls whose rows are put back by UPDATE (rows others refer to): table, key, columns.
def _undo_updates(m, call, a):
    if call == "buildrequests.complete_build_requests":
        t = m.buildrequests
        return [(t, t.c.id.in_(a["brids"]), "id", ["complete", "results", "complete_at"])]
    return []


# Calls that create rows: those above the highest id before the call are deleted, with the rows
# that refer to them (table, id column, [(dependent table, its column)]).
UNDO_NEW = {
    "buildsets.add_buildset": [
        ("buildsets", "id", [("buildset_properties", "buildsetid"),
                             ("buildset_sourcestamps", "buildsetid"),
                             ("buildrequests", "buildsetid")]),
        ("sourcestamps", "id", []), ("patches", "id", [])],
    "changes.add_change": [
        ("changes", "changeid", [("change_files", "changeid"), ("change_properties", "changeid"),
                                 ("change_users", "changeid"), ("scheduler_changes", "changeid")]),
        ("sourcestamps", "id", []), ("patches", "id", [])],
}
UNDO_CALLS = set(UNDO_NEW) | {"buildrequests.claim_build_requests",
                              "schedulers.set_scheduler_master",
                              "changesources.set_change_source_master",
                              "schedulers.classify_changes", "state.set_state",
                              "state.atomic_create_state", "users.update_user",
                              "buildrequests.complete_build_requests"}


def undo_needed(call, a, mine, gen):
    """Ours wrote nothing: ours failed, or (update_user) the user does not exist, where ours
    changes nothing and Buildbot, on SQLite and MySQL, stores the attribute of nobody."""
    if not mine[0]:
        return True
    return call == "users.update_user" and a["uid"] not in gen.ids["user"]


def undo_prepare(db, call, a):
    m = db.model

    def thd(conn):
        snap = {}
        for t, where in _undo_rows(m, call, a):
            snap[t.name] = [dict(r._mapping) for r in conn.execute(t.select().where(where)).fetchall()]
        for t, where, key, cols in _undo_updates(m, call, a):
            snap["update " + t.name] = [dict(r._mapping) for r in conn.execute(
                sa.select([t.c[key]] + [t.c[c] for c in cols]).where(where)).fetchall()]
        for table, col, _ in UNDO_NEW.get(call, []):
            t = m.metadata.tables[table]
            snap[table] = conn.execute(sa.select([sa.func.max(t.c[col])])).scalar() or 0
        return snap
    return db.pool.do(thd)


def undo_apply(db, call, a, snap):
    m = db.model

    def thd(conn):
        transaction = conn.begin()
        for t, where in _undo_rows(m, call, a):
            conn.execute(t.delete().where(where))
            if snap[t.name]:
                conn.execute(t.insert(), snap[t.name])
        for t, where, key, cols in _undo_updates(m, call, a):
            for row in snap["update " + t.name]:
                conn.execute(t.update().where(t.c[key] == row[key]).values(
                    **{c: row[c] for c in cols}))
        created = {}
        for table, col, deps in UNDO_NEW.get(call, []):
            t = m.metadata.tables[table]
            created[table] = [r[0] for r in conn.execute(
                sa.select([t.c[col]]).where(t.c[col] > snap[table])).fetchall()]
            for dep, dcol in deps:
                d = m.metadata.tables[dep]
                conn.execute(d.delete().where(d.c[dcol] > snap[table]))
            conn.execute(t.delete().where(t.c[col] > snap[table]))
        transaction.commit()
        return created
    d = db.pool.do(thd)

    @d.addCallback
    def forget(created):
        # Buildbot's addBuildset seeded its property cache: a missing buildset has none.
        for bsid in created.get("buildsets", []):
            db.buildsets.getBuildsetProperties.cache.put(bsid, bb_buildsets.BsProps())
    return d


def prune_housekeeping(db, backend):
    """After pruneChanges: what its foreign key's ON DELETE SET NULL does where Buildbot's keys
    are not enforced (SQLite, MySQL), and its change cache emptied, as ours is
    (docs/buildbot-compatibility.md, "`prune_changes`: the change cache")."""
    def thd(conn):
        if backend in ("sqlite", "mysql"):
            conn.execute(sa.text(
                "UPDATE changes SET parent_changeids = NULL WHERE parent_changeids IS NOT NULL "
                "AND parent_changeids NOT IN (SELECT changeid FROM "
                "(SELECT changeid FROM changes) AS kept)"))
    d = db.pool.do(thd)

    @d.addCallback
    def forget(_):
        cache = db.changes.getChange.cache
        for key in set(cache.cache) | set(cache.weakrefs.keys()):
            lru_forget(cache, key)
    return d


def take_over_link(db, call, a):
    """Ours replaced a link held by a master that is not active (the reference); Buildbot
    refused: its link is moved to the new master, as ours."""
    t = {"schedulers.set_scheduler_master": db.model.scheduler_masters,
         "changesources.set_change_source_master": db.model.changesource_masters}[call]
    key = HOLDER_KIND[call][1]

    def thd(conn):
        conn.execute(t.update().where(t.c[key] == a[key]).values(masterid=a["masterid"]))
    return db.pool.do(thd)


# Expected differences after which the test brings Buildbot's rows to ours.
SYNC_AFTER = {"holder-inactive-replaced": take_over_link}


def lru_forget(cache, key):
    """Drops one entry of a Buildbot LRU cache (which has no method for it)."""
    cache.cache.pop(key, None)
    cache.weakrefs.pop(key, None)
    if key in cache.refcount:
        del cache.refcount[key]
        cache.queue = collections.deque(k for k in cache.queue if k != key)


# ------------------------------------------------------------------------------------ expected


def load_expected():
    with open(os.path.join(HERE, "expected.json")) as f:
        return json.load(f)["differences"]


def outcome_matches(pattern, outcome):
    """pattern: {"ok": true} | {"error": kind or [kinds]} | {"result": value} | a list of them."""
    if isinstance(pattern, list):
        return any(outcome_matches(p, outcome) for p in pattern)
    ok, val = outcome
    if "ok" in pattern:
        return ok == pattern["ok"]
    if "error" in pattern:
        kinds = pattern["error"] if isinstance(pattern["error"], list) else [pattern["error"]]
        return not ok and val in kinds
    if "result" in pattern:
        return ok and val == pattern["result"]
    return False


IDENTIFIER_RE = re.compile(r"^[A-Za-z_-][A-Za-z0-9_-]*$")
# The claim calls of schedulers and change sources: (kind, the id argument).
HOLDER_KIND = {"schedulers.set_scheduler_master": ("scheduler", "schedulerid"),
               "changesources.set_change_source_master": ("changesource", "changesourceid")}


def condition_holds(cond, call, args, gen):
    """Evaluated on the generator's state before the call."""
    if not cond:
        return True
    if "missing_ids" in cond:
        for key, kind in cond["missing_ids"].items():
            vals = args.get(key)
            if vals is None:
                continue
            if isinstance(vals, dict):
                vals = [int(k) for k in vals]
            elif not isinstance(vals, list):
                vals = [vals]
            if any(isinstance(v, int) and v not in gen.ids[kind] for v in vals):
                return True
        return False
    if cond.get("not_claimed_by_caller"):
        return any(gen.brs.get(b, {}).get("claimed_by") != args["masterid"] for b in args["brids"])
    if cond.get("codec_differs"):
        return BUILDBOT_LOG_COMPRESSION != OUR_LOG_COMPRESSION
    if cond.get("buildbot_deletes_the_complement"):
        return bool(gen.data_deleted_differently)
    if cond.get("buildbot_deletes_logs_of_unstarted_steps"):
        return bool(gen.only_buildbot_deletes) or gen.deletes_differing_log
    if cond.get("empty_range"):
        return args["last_line"] < args["first_line"]
    if cond.get("builder_not_on_master"):
        return any((b, args["masterid"]) not in gen.builder_masters for b in args["builderids"])
    if cond.get("test_result_set_of_other_builder"):
        setid = args["test_result_setid"]
        return setid in gen.trs_builder and gen.trs_builder[setid] != args["builderid"]
    if "not_identifier" in cond:
        v = args.get(cond["not_identifier"].get(call))
        return isinstance(v, str) and (not IDENTIFIER_RE.match(v) or
                                       len(v) > cond.get("max_length", 50))
    if "missing_or_complete" in cond:
        # {key: kind}: the row is missing, or (buildsets) Buildbot completed it already.
        for key, kind in cond["missing_or_complete"].items():
            v = args.get(key)
            if isinstance(v, int) and (v not in gen.ids[kind] or
                                       (kind == "bs" and v in gen.complete_bs)):
                return True
        return False
    if cond.get("attr_of_another_user"):
        if "attr_type" not in args:
            return False
        owner = gen.attrs.get((args["attr_type"], args.get("attr_data")))
        return owner is not None and owner != args["uid"]
    if "too_long" in cond:
        # {key: the column's declared length}
        return any(isinstance(args.get(k), str) and len(args[k]) > n
                   for k, n in cond["too_long"].items())
    if cond.get("complete_request"):
        return any(gen.brs.get(b, {}).get("complete") for b in args.get("brids", []))
    if "holder" in cond:
        # "inactive": another master holds it and is not active; "caller": the caller holds it.
        if call not in HOLDER_KIND or args.get("masterid") is None:
            return False
        kind, key = HOLDER_KIND[call]
        holder = gen.holders.get((kind, args[key]))
        if cond["holder"] == "caller":
            return holder == args["masterid"]
        return holder is not None and holder != args["masterid"] and \
            not gen.master_active.get(holder, False)
    if "empty_filter" in cond:
        return any(args.get(k) == "" for k in cond["empty_filter"])
    return False


def find_expected(expected, backend, call, args, bb, ours, gen):
    for e in expected:
        if call not in e["calls"]:
            continue
        if e.get("backends") and backend not in e["backends"]:
            continue
        if not outcome_matches(e["buildbot"], bb) or not outcome_matches(e["ours"], ours):
            continue
        if not condition_holds(e.get("condition"), call, args, gen):
            continue
        return e
    return None


# ------------------------------------------------------------------------------------ backends


def server_url(backend):
    var = {"postgres": "YM_TEST_POSTGRES_URL", "mysql": "YM_TEST_MYSQL_URL"}[backend]
    url = os.environ.get(var)
    if not url:
        die_missing(f"{var} is not set (run through scripts/test or tests/oracle/run.sh)")
    return url


def make_databases(backend, tmp):
    """Two empty databases of the backend: (Buildbot's URL, ours)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp}/buildbot.sqlite", f"sqlite:///{tmp}/ours.sqlite"
    base = server_url(backend)
    u = urllib.parse.urlsplit(base)
    tag = f"{os.getpid()}"
    names = [f"ym_oracle_bb_{tag}", f"ym_oracle_ym_{tag}"]
    if backend == "postgres":
        try:
            import psycopg2
        except ImportError as e:
            die_missing(f"python module psycopg2: {e} (install python3-psycopg2: scripts/setup)")
        conn = psycopg2.connect(host=u.hostname, port=u.port, user=u.username,
                                password=urllib.parse.unquote(u.password or ""),
                                dbname=u.path.lstrip("/"))
        conn.autocommit = True
        with conn.cursor() as c:
            for n in names:
                c.execute(f"DROP DATABASE IF EXISTS {n}")
                c.execute(f"CREATE DATABASE {n}")
        conn.close()
    else:
        try:
            import MySQLdb
        except ImportError as e:
            die_missing(f"python module MySQLdb: {e} (install python3-mysqldb: scripts/setup)")
        conn = MySQLdb.connect(host=u.hostname, port=u.port, user=u.username,
                               passwd=urllib.parse.unquote(u.password or ""))
        c = conn.cursor()
        for n in names:
            c.execute(f"DROP DATABASE IF EXISTS {n}")
            c.execute(f"CREATE DATABASE {n} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        conn.close()
    prefix = base[:base.rindex("/") + 1]
    return prefix + names[0], prefix + names[1], names


def drop_databases(backend, names):
    if backend == "sqlite" or not names:
        return
    u = urllib.parse.urlsplit(server_url(backend))
    try:
        if backend == "postgres":
            import psycopg2
            conn = psycopg2.connect(host=u.hostname, port=u.port, user=u.username,
                                    password=urllib.parse.unquote(u.password or ""),
                                    dbname=u.path.lstrip("/"))
            conn.autocommit = True
            with conn.cursor() as c:
                for n in names:
                    c.execute(f"DROP DATABASE IF EXISTS {n}")
        else:
            import MySQLdb
            conn = MySQLdb.connect(host=u.hostname, port=u.port, user=u.username,
                                   passwd=urllib.parse.unquote(u.password or ""))
            c = conn.cursor()
            for n in names:
                c.execute(f"DROP DATABASE IF EXISTS {n}")
        conn.close()
    except Exception as e:  # leaving a scratch database behind is not a test failure
        print(f"oracle: could not drop the scratch databases: {e}", file=sys.stderr)


def mask(url):
    if "@" not in url:
        return url
    head, tail = url.split("://", 1)
    return head + "://" + tail.split("@", 1)[1]


# ------------------------------------------------------------------------------------ the run


class Ours:
    def __init__(self, binary, url):
        self.p = subprocess.Popen([binary, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, encoding="utf-8")

    def call(self, name, args, now):
        self.p.stdin.write(json.dumps({"call": name, "args": args, "now": now}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"ym_oracle exited (status {self.p.wait()})")
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def short(v, n=400):
    s = json.dumps(v, sort_keys=True, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


@defer.inlineCallbacks
def run(reactor, opts):
    components = sorted({c for (_, c, _) in Gen(random.Random(0), set()).table()})
    if opts.component:
        wanted = set(opts.component.split(","))
        unknown = wanted - set(components)
        if unknown:
            raise SystemExit(f"oracle: unknown component(s) {sorted(unknown)}; known: {components}")
        components = sorted(wanted)
    expected = load_expected()
    tmp = tempfile.mkdtemp(prefix="ym-oracle-")
    made = make_databases(opts.backend, tmp)
    bb_url, our_url = made[0], made[1]
    names = made[2] if len(made) > 2 else None
    print(f"oracle: backend {opts.backend}, seed {opts.seed}, {opts.calls} calls, "
          f"components {','.join(components)}")
    print(f"oracle: Buildbot {mask(bb_url)}, ours {mask(our_url)}")

    clock = Reactor(reactor)
    master = Master(clock, bb_url, tmp)
    db = bb_connector.DBConnector(tmp)
    master.db = db
    yield db.setServiceParent(master)
    yield db.setup(check_version=False)
    yield db.model.upgrade()
    ours = Ours(opts.oracle, our_url)

    if opts.backend == "mysql":
        # Buildbot reads a change's files without ORDER BY; MariaDB returns them in no stable
        # order (SQLite and PostgreSQL: the order they were added, as ours).
        SET_KEYS.add("files")
    rng = random.Random(opts.seed)
    gen = Gen(rng, set(components), opts.backend)
    ids = IdMap()
    stats = collections.defaultdict(collections.Counter)
    unexpected = []
    seen_expected = collections.Counter()
    now = T0
    try:
        for i in range(opts.calls):
            now += rng.choice([0, 1, 1, 2, 5, 60])
            clock.now = now
            call, args = gen.next(now)
            comp = component_of(call)
            fn, kind, unordered = CALLS[call]
            if call == "build_data.delete_old_build_data" and opts.backend != "sqlite":
                gen.data_deleted_differently = yield builds_with_data(db)
            if call == "logs.delete_old_log_chunks":
                gen.only_buildbot_deletes, gen.deletes_differing_log = \
                    yield logs_only_buildbot_deletes(db, args["older_than_timestamp"],
                                                     gen.logs_with_empty_line)
            if call == "logs.compress_log":
                gen.compress_renumbers = yield log_starts_after_line_zero(db, args["logid"])
            snap = None
            if call in UNDO_CALLS:
                snap = yield undo_prepare(db, call, args)
            # Buildbot
            bb_msg = None
            try:
                d = defer.maybeDeferred(fn, db, json.loads(json.dumps(args)))
                d.addTimeout(CALL_TIMEOUT, reactor)
                res = yield d
                bb = (True, neutral(res))
            except defer.TimeoutError:
                # Its thread still runs (Buildbot loops on some refused inserts): no clean exit.
                print(f"oracle: FAIL: Buildbot's {call} did not return within {CALL_TIMEOUT} s "
                      f"(call #{i}, seed {opts.seed}): {short(args)}", flush=True)
                os._exit(3)
            except Exception as e:  # every exception is an outcome to compare
                bb = (False, bb_error_kind(e))
                bb_msg = " ".join(f"{type(e).__name__}: {e}".split("\n")[:2])[:300]
                if opts.trace:
                    traceback.print_exc()
            # Ours, in our ids
            our_args = translate(args, ids.to_ours)
            o = ours.call(call, our_args, now)
            if "error" in o:
                mine = (False, o["error"])
            else:
                mine = (True, o["result"])
            if call == "masters.set_master_state" and not args["active"] and bb[0] and mine[0]:
                yield takeover_housekeeping(db, args["masterid"], now)
                gen.took_over(args["masterid"])
            # learn the ids this call created, then bring our result into Buildbot's ids
            if bb[0] and mine[0]:
                learn(ids, call, kind, bb[1], mine[1])
            if call == "buildsets.add_buildset" and bb[0] and mine[0] and \
                    any(isinstance(s, dict) for s in args["sourcestamps"]):
                # The stamps it found or made on the side: paired by content now (unseen reads
                # on both sides), so that the buildset's own record compares.
                bb_ss = yield db.sourcestamps.getSourceStamps()
                o_ss = ours.call("sourcestamps.get_source_stamps", {}, now)
                if "result" in o_ss:
                    learn(ids, "sourcestamps.get_source_stamps", "ss", neutral(bb_ss),
                          o_ss["result"])
            if mine[0]:
                mine = (True, translate_result(call, kind, mine[1], ids))
            if bb[0]:
                bbv = sort_sets(bb[1], unordered)
                mine = (mine[0], sort_sets(mine[1], unordered) if mine[0] else mine[1])
                bb = (True, bbv)
            if (call in BUILD_DATA_READS and bb[0] and mine[0] and
                    args["buildid"] in gen.build_data_tainted):
                mine = bb  # that build's data differs by the deliberate difference
            if bb[0] and mine[0] and kind and call.split(".")[1].startswith("get"):
                bb = (True, gen.without_tainted(kind, bb[1]))
                mine = (True, gen.without_tainted(kind, mine[1]))
            stats[comp]["calls"] += 1
            same = bb == mine or (call == "state.set_state" and bb[0] and mine[0])
            e = None if same else find_expected(expected, opts.backend, call, args, bb, mine, gen)
            if opts.trace_all:
                print(f"#{i} {call} {short(args)} -> "
                      f"{'same' if same else ('expected ' + e['id']) if e else 'DIFFERENT'}\n"
                      f"  buildbot: {short(bb)}\n  ours:     {short(mine)}")
            if call in ("users.update_user", "users.remove_user") and bb[0]:
                # Buildbot's getUser cache (usdicts) is not invalidated by these: ours is
                # (docs/buildbot-compatibility.md, "`update_user` invalidates the cached user").
                # The test drops Buildbot's stale entry, so later reads compare what is stored.
                lru_forget(db.users.getUser.cache, args["uid"])
            if call == "users.remove_user" and bb[0] and mine[0]:
                ids.forget("user", args["uid"])
            if call == "changes.prune_changes" and bb[0] and mine[0]:
                yield prune_housekeeping(db, opts.backend)
            if snap is not None and undo_needed(call, args, mine, gen):
                # Ours wrote nothing: neither may Buildbot have (see "undo" above).
                yield undo_apply(db, call, args, snap)
                gen.last_call = call
            elif e is not None and e["id"] in SYNC_AFTER:
                yield SYNC_AFTER[e["id"]](db, call, args)
                gen.observe(call, args, True, None)
            else:
                # Any difference in a write leaves the rows it touched different on the two
                # sides: they are not used again (the difference itself is counted once, here).
                gen.observe(call, args, bb[0], res if bb[0] else None, tainted=not same)
            if call == "build_data.delete_old_build_data" and bb[0]:
                gen.build_data_tainted.update(gen.data_deleted_differently)
            if call == "logs.compress_log" and bb[0] and gen.compress_renumbers:
                gen.taint_id("log", args["logid"])  # Buildbot's copy is renumbered from line 0
            if call == "logs.delete_old_log_chunks" and bb[0]:
                # Deleted on Buildbot's side only: out of use, whatever the counts said.
                for logid in gen.only_buildbot_deletes:
                    gen.taint_id("log", logid)
            if same:
                stats[comp]["identical"] += 1
                continue
            if e and bb[0] and not mine[0] and call in DANGLING_SQL:
                yield delete_dangling(db, call, args)
                if call == "test_results.add_test_results":
                    gen.untaint("trs", args["test_result_setid"])  # the same on both sides again
            if e and bb[0] and not mine[0] and call in CREATED_SQL:
                rowid = res[0] if isinstance(res, (list, tuple)) else res
                yield delete_created(db, call, rowid)
                gen.untaint(CALLS[call][1], rowid)  # gone from Buildbot's side too
            if e:
                stats[comp]["expected"] += 1
                seen_expected[e["id"]] += 1
                seen_expected[(e["id"], call)] += 1
                continue
            stats[comp]["unexpected"] += 1
            unexpected.append((i, call, args, bb, mine, (bb_msg, o.get("message"))))
            if opts.trace:
                print(f"#{i} {call} {short(args)}\n  buildbot: {short(bb)}\n  ours:     {short(mine)}")
    finally:
        ours.close()
        yield db.pool.shutdown()
        drop_databases(opts.backend, names)

    report(opts, stats, unexpected, seen_expected, expected, components)
    # task.react exits with the code of a SystemExit.
    raise SystemExit(1 if unexpected else 0)


def translate_result(call, kind, v, ids):
    # (id, number[, name]): only the first is an id.
    if call in ("builds.add_build", "steps.add_step") and isinstance(v, list) and v:
        return [translate(v[0], ids.to_bb, kind=kind)] + v[1:]
    if call == "schedulers.get_change_classifications" and isinstance(v, dict):
        # {changeid: important}
        return {str(ids.to_bb("change", int(k))): x for k, x in v.items()}
    if call == "buildsets.add_buildset" and isinstance(v, list) and len(v) == 2:
        # (bsid, {builderid: brid})
        return [ids.to_bb("bs", v[0]),
                {str(ids.to_bb("builder", int(b))): ids.to_bb("br", r) for b, r in v[1].items()}]
    return translate(v, ids.to_bb, kind=kind)


def learn_record(ids, bb, mine):
    """Pairs the scalar ids of two records that describe the same row (a change's source stamp,
    a stamp's patch: rows that calls create on the side)."""
    if isinstance(bb, dict) and isinstance(mine, dict):
        for k, kind in (("sourcestampid", "ss"), ("patchid", "patch")):
            ids.learn(kind, bb.get(k), mine.get(k))
    elif isinstance(bb, list) and isinstance(mine, list) and len(bb) == len(mine):
        for x, y in zip(bb, mine):
            learn_record(ids, x, y)


def learn(ids, call, kind, bb, mine):
    """Pairs the ids a call created (or found) on each side."""
    if call == "buildsets.add_buildset":
        ids.learn("bs", bb[0], mine[0])
        for builder, brid in bb[1].items():
            our_builder = str(ids.to_ours("builder", int(builder)))
            if our_builder in mine[1]:
                ids.learn("br", brid, mine[1][our_builder])
        return
    if call in ("builds.add_build", "steps.add_step"):
        ids.learn(kind, bb[0], mine[0])
        return
    if kind and isinstance(bb, int) and isinstance(mine, int):
        ids.learn(kind, bb, mine)
        return
    if call in ("sourcestamps.get_source_stamp", "changes.get_change",
                "changes.get_change_from_ssid"):
        learn_record(ids, bb, mine)
    if call in ("sourcestamps.get_source_stamps", "sourcestamps.get_source_stamps_for_build") and \
            isinstance(bb, list) and isinstance(mine, list):
        # Stamps that add_buildset made on the side: paired by their content (unique, as the
        # stamp's hash is), when one record on each side has it.
        def by_content(lst):
            out = collections.defaultdict(list)
            for r in lst:
                if isinstance(r, dict):
                    out[canon({k: v for k, v in r.items() if k not in ("ssid", "patchid")})].append(r)
            return out
        ours_by = by_content(mine)
        for key, rs in by_content(bb).items():
            if len(rs) == 1 and len(ours_by.get(key, [])) == 1:
                learn_record(ids, rs[0], ours_by[key][0])
                ids.learn("ss", rs[0].get("ssid"), ours_by[key][0].get("ssid"))
    if call in ("changes.get_changes", "changes.get_changes_for_build") and \
            isinstance(bb, list) and isinstance(mine, list):
        # Pair the records by change id (the stamps their add_change made on the side).
        ours_by_id = {ids.to_bb("change", r.get("changeid")): r for r in mine if isinstance(r, dict)}
        for r in bb:
            if isinstance(r, dict) and r.get("changeid") in ours_by_id:
                learn_record(ids, r, ours_by_id[r["changeid"]])


def report(opts, stats, unexpected, seen_expected, expected, components):
    total = collections.Counter()
    print()
    print(f"{'component':<18}{'calls':>7}{'identical':>11}{'expected':>10}{'unexpected':>12}")
    for comp in sorted(stats):
        s = stats[comp]
        total.update(s)
        print(f"{comp:<18}{s['calls']:>7}{s['identical']:>11}{s['expected']:>10}"
              f"{s['unexpected']:>12}")
    pct = 100.0 * total["identical"] / max(total["calls"], 1)
    print(f"{'total':<18}{total['calls']:>7}{total['identical']:>11}{total['expected']:>10}"
          f"{total['unexpected']:>12}   ({pct:.1f}% identical)")
    for e in expected:
        if seen_expected[e["id"]]:
            per_call = ", ".join(f"{c} {seen_expected[(e['id'], c)]}" for c in e["calls"]
                                 if seen_expected[(e["id"], c)])
            print(f"oracle: expected difference {e['id']}: seen {seen_expected[e['id']]} times "
                  f"(docs/buildbot-compatibility.md: \"{e['doc']}\"): {per_call}")
    if not unexpected:
        print(f"oracle: PASS: backend {opts.backend}, seed {opts.seed}")
        return
    # Grouped by call and kind of difference, the first example of each in full.
    groups = collections.OrderedDict()
    for (i, call, args, bb, mine, msg) in unexpected:
        key = (call, diff_kind(bb, mine))
        groups.setdefault(key, []).append((i, args, bb, mine, msg))
    print(f"\noracle: FAIL: {len(unexpected)} unexpected differences in {len(groups)} groups "
          f"(backend {opts.backend}, seed {opts.seed})")
    for (call, kind), items in list(groups.items())[:opts.show]:
        i, args, bb, mine, msg = items[0]
        print(f"\n[{call}] {kind}: {len(items)} calls, first #{i} "
              f"(reproduce: oracle.py --backend {opts.backend} --seed {opts.seed} --calls {i + 1})")
        print(f"  args:     {short(args)}")
        print(f"  buildbot: {short(outcome(bb))}" + (f"  ({msg[0]})" if msg[0] else ""))
        print(f"  ours:     {short(outcome(mine))}" + (f"  ({msg[1]})" if msg[1] else ""))
        if bb[0] and mine[0]:
            for d in field_diffs(bb[1], mine[1])[:6]:
                print(f"  differs:  {d}")
    if len(groups) > opts.show:
        print(f"\n... {len(groups) - opts.show} more groups (--show N)")


def outcome(o):
    return o[1] if o[0] else {"error": o[1]}


def diff_kind(bb, mine):
    if bb[0] and not mine[0]:
        return f"Buildbot succeeds, ours raises {mine[1]}"
    if not bb[0] and mine[0]:
        return f"Buildbot raises {bb[1]}, ours succeeds"
    if not bb[0]:
        return f"Buildbot raises {bb[1]}, ours {mine[1]}"
    fields = sorted({d.split(":")[0] for d in field_diffs(bb[1], mine[1])})
    return "results differ in " + (", ".join(fields[:5]) or "value")


def field_diffs(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else k
            if k not in a:
                out.append(f"{p}: only ours ({short(b[k], 80)})")
            elif k not in b:
                out.append(f"{p}: only Buildbot ({short(a[k], 80)})")
            else:
                out += field_diffs(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for n, (x, y) in enumerate(zip(a, b)):
            out += field_diffs(x, y, f"{path}[{n}]")
        return out
    if a != b:
        return [f"{path or 'value'}: Buildbot {short(a, 80)}, ours {short(b, 80)}"]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres", "mysql"], default="sqlite")
    ap.add_argument("--oracle", default=os.path.join(HERE, "../../build/tests/oracle/ym_oracle"),
                    help="the ym_oracle executable")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--component", help="only these components (comma-separated)")
    ap.add_argument("--show", type=int, default=60, help="difference groups to print")
    ap.add_argument("--trace", action="store_true", help="print every difference as it happens")
    ap.add_argument("--trace-all", action="store_true",
                    help="print every call with both outcomes (to follow one row's history)")
    opts = ap.parse_args()
    if not os.access(opts.oracle, os.X_OK):
        print(f"oracle: no ym_oracle at {opts.oracle} (build it: scripts/build --target ym_oracle)",
              file=sys.stderr)
        sys.exit(2)
    if not opts.trace:
        # Buildbot's own log (its "Unhandled error in Deferred" tracebacks of calls the test
        # makes fail on purpose) would bury the report; --trace keeps it.
        from twisted.logger import globalLogBeginner
        globalLogBeginner.beginLoggingTo([lambda event: None], redirectStandardIO=False)
    task.react(lambda reactor: run(reactor, opts))


if __name__ == "__main__":
    main()
