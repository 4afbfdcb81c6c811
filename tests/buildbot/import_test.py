"""ImportBuildbot.<backend>: `yardmaster db import-buildbot` on a database made by the real
Buildbot 3.7.

1. Buildbot's own connectors (through tests/buildbot/bbdb.py) create and fill a Buildbot database:
   masters, builders, workers, users, changes with files, properties and users, source stamps with
   a patch, buildsets with properties, requests claimed and completed, builds with properties,
   steps with URLs, logs in several chunks stored raw, gzip, bzip2 and lz4, schedulers with
   classifications, change sources, state; and Buildbot 3.7's newer data: builder tags (replaced
   once, shared, not ASCII), build data (binary, not UTF-8, 1.5 MiB, empty, replaced), test
   result sets (complete with and without counts, incomplete, without description) with results
   (name only, code path only, both; lines, durations; names and paths shared by builders).
2. Buildbot's connectors read it all back (the expected answers): also every build's data by
   name and without values, every builder's sets with each filter, every set's results, and the
   test names and code paths with several prefixes (unknown ids included).
3. The source is fingerprinted (SQLite: the file's bytes; servers: every table's rows), imported,
   and fingerprinted again: it must not have changed.
4. ym_import_check reads the target through our connectors; the answers must equal Buildbot's
   after normalising representation only (times to epoch seconds, tuples to lists, bytes of
   build data to hex, order by id where Buildbot leaves the order to the database; our own
   orders are checked on their own). Buildbot's getTestCodePaths ignores its builder (a
   deliberate difference, docs/buildbot-compatibility.md): a builder's paths are compared with
   those of its results, and Buildbot's answer with all builders' paths together.
   Log chunks must be byte-identical (they are copied verbatim).
5. Importing again is refused (the target holds data); an unknown Alembic version is refused and
   named, and changes nothing; new rows in the target get ids after the imported ones.

Run: /usr/bin/python3 import_test.py --backend sqlite|postgres|mysql --yardmaster BIN --checker BIN
Servers: YM_TEST_POSTGRES_URL / YM_TEST_MYSQL_URL (scripts/test starts them). Without one the test
exits 77 (skipped); under CI=true it fails.
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SKIP = 77
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", flush=True)
    return cond


def die(msg, code=1):
    print(f"import_test: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def need_module(name):
    try:
        __import__(name)
    except ImportError as e:
        msg = f"Python module {name} is missing ({e}); scripts/setup installs it"
        die(msg, 1 if os.environ.get("CI") == "true" else SKIP)


# ------------------------------------------------------------------------- databases

class Backend:
    """Two fresh databases (the Buildbot source, the Yardmaster target) and URLs for both
    programs."""

    def __init__(self, kind, tmp):
        self.kind = kind
        self.tmp = tmp
        self.created = []
        self.password = None
        if kind == "sqlite":
            return
        env = "YM_TEST_POSTGRES_URL" if kind == "postgres" else "YM_TEST_MYSQL_URL"
        base = os.environ.get(env)
        if not base:
            die(f"{env} is not set (scripts/test starts a server)",
                1 if os.environ.get("CI") == "true" else SKIP)
        self.base = urllib.parse.urlsplit(base)
        self.password = urllib.parse.unquote(self.base.password or "")
        need_module("psycopg2" if kind == "postgres" else "MySQLdb")

    def _admin(self):
        u = self.base
        if self.kind == "postgres":
            import psycopg2
            c = psycopg2.connect(host=u.hostname, port=u.port, user=urllib.parse.unquote(u.username),
                                 password=self.password, dbname=u.path.lstrip("/"))
            c.autocommit = True
            return c
        import MySQLdb
        return MySQLdb.connect(host=u.hostname, port=u.port, user=urllib.parse.unquote(u.username),
                               passwd=self.password, db=u.path.lstrip("/"))

    def new_database(self, tag):
        """(buildbot_url, yardmaster_url) of a new empty database; for SQLite, of a file."""
        if self.kind == "sqlite":
            path = os.path.join(self.tmp, f"{tag}.sqlite")
            return f"sqlite:///{path}", f"sqlite:///{path}"
        name = f"ym_imp_{tag}_{os.getpid()}"
        c = self._admin()
        cur = c.cursor()
        if self.kind == "postgres":
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"CREATE DATABASE {name}")
        else:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        c.close()
        self.created.append(name)
        u = self.base
        netloc = u.netloc
        ours = urllib.parse.urlunsplit((u.scheme, netloc, "/" + name, "", ""))
        driver = "postgresql+psycopg2" if self.kind == "postgres" else "mysql+mysqldb"
        theirs = urllib.parse.urlunsplit((driver, netloc, "/" + name, "", ""))
        return theirs, ours

    def drop_all(self):
        if self.kind == "sqlite" or not self.created:
            return
        c = self._admin()
        cur = c.cursor()
        for name in self.created:
            if self.kind == "postgres":
                # The plain form first: it stops an autovacuum worker in the database by itself,
                # where WITH (FORCE) refuses to (an ordinary user may not terminate it). FORCE
                # only for a session of ours that is still open (Buildbot's engine pool).
                import psycopg2
                try:
                    cur.execute(f"DROP DATABASE IF EXISTS {name}")
                except psycopg2.Error:
                    cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
        c.close()

    def fingerprint(self, bb_url):
        """Something that changes when anything in the source does."""
        if self.kind == "sqlite":
            path = bb_url[len("sqlite:///"):]
            out = {}
            # The file itself, and any write-ahead log with frames in it (a reader of a WAL
            # database may leave an empty -wal and a -shm behind: they hold no data).
            for suffix in ("", "-wal"):
                if os.path.exists(path + suffix) and os.path.getsize(path + suffix) > 0:
                    with open(path + suffix, "rb") as f:
                        out[suffix or "db"] = hashlib.sha256(f.read()).hexdigest()
            return out
        name = urllib.parse.urlsplit(bb_url).path.lstrip("/")
        u = self.base
        if self.kind == "postgres":
            import psycopg2
            c = psycopg2.connect(host=u.hostname, port=u.port, user=urllib.parse.unquote(u.username),
                                 password=self.password, dbname=name)
            cur = c.cursor()
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public' ORDER BY table_name")
        else:
            import MySQLdb
            c = MySQLdb.connect(host=u.hostname, port=u.port, user=urllib.parse.unquote(u.username),
                                passwd=self.password, db=name)
            cur = c.cursor()
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = DATABASE() ORDER BY table_name")
        tables = [r[0] for r in cur.fetchall()]
        out = {}
        for t in tables:
            cur.execute(f"SELECT * FROM {t}")
            rows = sorted(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r))
                          for r in cur.fetchall())
            out[t] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        # The schema too: columns and their types.
        cur.execute("SELECT table_name, column_name, data_type, is_nullable FROM "
                    "information_schema.columns WHERE table_schema = " +
                    ("'public'" if self.kind == "postgres" else "DATABASE()") +
                    " ORDER BY 1, 2")
        out["(columns)"] = hashlib.sha256(repr(cur.fetchall()).encode()).hexdigest()
        c.close()
        return out


# ------------------------------------------------------------------------- Buildbot side

LOG_TEXT = "".join(f"compile unit {i:04d}: ok ok ok ok ok ok ok ok\n" for i in range(300))


async def fill(bb):
    """Fills the Buildbot database through Buildbot's connectors; returns the state keys set."""
    db = bb.db
    bb.seeded = {}  # what was given, for the checks of order
    m1 = await db.masters.findMasterId("bb1:/srv/buildbot")
    await db.masters.setMasterState(m1, True)
    m2 = await db.masters.findMasterId("bb2:/srv/buildbot")
    bb.set_masterid(m1)
    bb.tick()
    linux = await db.builders.findBuilderId("linux")
    docs = await db.builders.findBuilderId("docs")
    # Tags: replaced once (the first tag stays in `tags`, linked to nothing), shared by two
    # builders, not ASCII; a third builder has none.
    await db.builders.updateBuilderInfo(linux, "Linux build", ["slow"])
    await db.builders.updateBuilderInfo(linux, "Linux build", ["linux", "fast"])
    await db.builders.updateBuilderInfo(docs, None, ["fast", "dôcs ✓"])
    await db.builders.findBuilderId("untagged")
    bb.seeded["tags"] = {str(linux): ["linux", "fast"], str(docs): ["fast", "dôcs ✓"]}
    await db.builders.addBuilderMaster(builderid=linux, masterid=m1)
    await db.builders.addBuilderMaster(builderid=docs, masterid=m1)
    await db.builders.addBuilderMaster(builderid=docs, masterid=m2)
    w1 = await db.workers.findWorkerId("w1")
    w2 = await db.workers.findWorkerId("w2")
    await db.workers.workerConnected(w1, m1, {"os": "debian", "admin": "ci <ci@example.org>"})
    await db.workers.workerConfigured(w1, m1, [linux, docs])
    await db.workers.workerConfigured(w2, m1, [docs])
    await db.workers.setWorkerState(w2, True, False)
    bb.tick()

    alice = await db.users.findUserByAttr("alice", "git", "alice <alice@example.org>")
    await db.users.updateUser(uid=alice, bb_username="alice", bb_password="sha1$salt$deadbeef",
                              attr_type="email", attr_data="alice@example.org")
    bob = await db.users.findUserByAttr("bob", "git", "bob <bob@example.org>")

    repo = "https://git.example.org/app.git"
    changes = []
    for i, (author, uid) in enumerate([("alice <alice@example.org>", alice),
                                       ("bob <bob@example.org>", bob),
                                       ("alice <alice@example.org>", alice)]):
        bb.tick(60)
        cid = await db.changes.addChange(
            author=author, committer=author if i != 1 else None,
            files=sorted([f"src/file{i}.c", "README", f"docs/ch{i}.rst"]),
            comments=f"change {i}: fix the thing\n\nwith détails ✓", revision=f"{i:040x}",
            branch="main" if i != 1 else None, category="bugfix" if i == 2 else None,
            revlink=f"https://git.example.org/app/commit/{i:040x}" if i != 1 else "",
            properties={"ticket": (f"T-{i}", "Change"), "nums": ([1, 2, i], "Change")},
            repository=repo, codebase="", project="app", uid=uid)
        changes.append(cid)
    ch3 = await db.changes.getChange(changes[2])
    patched = await db.sourcestamps.findSourceStampId(
        branch="main", revision="abc123", repository=repo, project="app", codebase="",
        patch_body=b"diff --git a/x b/x\n+hello\n", patch_level=1, patch_author="bob",
        patch_comment="try this", patch_subdir=".")
    bb.tick()

    force = await db.schedulers.findSchedulerId("force")
    await db.schedulers.setSchedulerMaster(force, m1)
    await db.schedulers.classifyChanges(force, {changes[0]: True, changes[1]: False})
    nightly = await db.schedulers.findSchedulerId("nightly")
    await db.schedulers.enable(nightly, False)
    poller = await db.changesources.findChangeSourceId("gitpoller")
    await db.changesources.setChangeSourceMaster(poller, m1)
    await db.changesources.findChangeSourceId("idle-poller")
    oid = await db.state.getObjectId("gitpoller", "GitPoller")
    await db.state.setState(oid, "lastRev", {"main": "abc123", "dev": None})
    await db.state.setState(oid, "count", 42)
    oid2 = await db.state.getObjectId("nightly", "Nightly")
    await db.state.setState(oid2, "last_build", 1700000000.5)

    # buildset 1: two requests, both built and completed
    bb.tick()
    bs1, brids1 = await db.buildsets.addBuildset(
        sourcestamps=[ch3["sourcestampid"], patched], reason="a change",
        properties={"scheduler": ("force", "Scheduler"), "flags": ({"a": [1, 2]}, "Force")},
        builderids=[linux, docs], waited_for=True, external_idstring="ext-1")
    bb.tick()
    await db.buildrequests.claimBuildRequests(list(brids1.values()))
    for n, (builderid, result) in enumerate([(linux, 0), (docs, 2)]):
        bb.tick(5)
        bid, _ = await db.builds.addBuild(builderid, brids1[builderid], w1, m1, "building")
        steps = {}
        await db.builds.setBuildProperty(bid, "got_revision", f"{2:040x}", "Git")
        await db.builds.setBuildProperty(bid, "workername", "w1", "Worker")
        await db.builds.setBuildProperty(bid, "matrix", {"cc": ["gcc", "clang"]}, "Build")
        for sn, (name, method) in enumerate([("compile", "gz"), ("test", "bz2"),
                                             ("package", "lz4"), ("report", "raw")]):
            bb.tick()
            stepid, _, _ = await db.steps.addStep(bid, name, "pending")
            steps[name] = stepid
            await db.steps.startStep(stepid)
            await db.steps.setStepStateString(stepid, f"{name} running")
            await db.steps.addURL(stepid, f"{name} docs", f"https://ci.example.org/{bid}/{name}")
            bb.set_log_compression(method)
            logid = await db.logs.addLog(stepid, "stdio", "stdio", "s")
            # several appends: several chunks, each stored with this log's codec
            for part in range(3):
                await db.logs.appendLog(logid, LOG_TEXT + f"part {part} of {name}: ünïcode ✓\n")
            await db.logs.finishLog(logid)
            if name == "test":
                await db.logs.compressLog(logid)  # merges the chunks into one
            hlog = await db.logs.addLog(stepid, "summary", "summary", "h")
            await db.logs.appendLog(hlog, "<b>ok</b>\n")
            await db.logs.finishLog(hlog)
            bb.tick(3)
            await db.steps.finishStep(stepid, 0 if sn < 3 else result, sn == 3)
        bb.set_log_compression("raw")
        await fill_build_data(bb, bid, n)
        await fill_test_results(bb, builderid, bid, steps, n)
        bb.tick(10)
        await db.builds.finishBuild(bid, result)
        await db.buildrequests.completeBuildRequests([brids1[builderid]], result)
    await db.buildsets.completeBuildset(bs1, 2)

    # buildset 2: claimed, its build still running with an unfinished step and log
    bb.tick()
    bs2, brids2 = await db.buildsets.addBuildset(
        sourcestamps=[{"branch": "dev", "revision": None, "repository": repo, "project": "app",
                       "codebase": ""}],
        reason="nightly", properties={}, builderids=[linux], waited_for=False,
        parent_buildid=bid, parent_relationship="triggered by docs")
    await db.buildrequests.claimBuildRequests([brids2[linux]])
    bid2, _ = await db.builds.addBuild(linux, brids2[linux], w1, m1, "building")
    stepid, _, _ = await db.steps.addStep(bid2, "compile", "pending")
    await db.steps.startStep(stepid)
    bb.set_log_compression("gz")
    logid = await db.logs.addLog(stepid, "stdio", "stdio", "s")
    await db.logs.appendLog(logid, LOG_TEXT)
    bb.set_log_compression("raw")
    # data of a build still running, and a test result set left incomplete
    await db.build_data.setBuildData(bid2, "partial", "still running ✓".encode(), "Compile")
    bb.seeded.setdefault("build_data", {})[str(bid2)] = ["partial"]
    trs = await db.test_result_sets.addTestResultSet(linux, bid2, stepid, "running", "pass_fail",
                                                     "boolean")
    await db.test_results.addTestResults(linux, trs, [
        {"test_name": "t_one", "value": "1"},
        {"test_name": "t_running", "test_code_path": "src/running.c", "value": "1"}])

    # buildset 3: waiting, unclaimed
    bb.tick()
    await db.buildsets.addBuildset(sourcestamps=[patched], reason="try", properties={},
                                   builderids=[docs], waited_for=False)
    return [("gitpoller", "GitPoller", "lastRev"), ("gitpoller", "GitPoller", "count"),
            ("nightly", "Nightly", "last_build")]


# A value of build data too large for one page of rows, and not text.
LARGE_DATA = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(48 * 1024))


async def fill_build_data(bb, bid, n):
    """Build data through setBuildData: binary (not UTF-8), large (1.5 MiB), empty, text, and
    one name set twice (replaced)."""
    db = bb.db.build_data
    await db.setBuildData(bid, "coverage", b"\xff\xfe\x80\x00 not UTF-8 \xc3(" + bytes([n]),
                          "Coverage")
    await db.setBuildData(bid, "summary", b"first value", "Test")
    await db.setBuildData(bid, "summary", f"build {bid}: ok ✓".encode(), "Tëst step")
    names = ["coverage", "summary"]
    if n == 0:
        await db.setBuildData(bid, "report.tar", LARGE_DATA, "Upload")
        await db.setBuildData(bid, "empty", b"", "Empty")
        names += ["report.tar", "empty"]
    bb.seeded.setdefault("build_data", {})[str(bid)] = names


async def fill_test_results(bb, builderid, bid, steps, n):
    """Test result sets through addTestResultSet / addTestResults / completeTestResultSet:
    results with a name only, a code path only, both, lines and durations; names and paths
    shared by both builders and reused by a second call; a set without description and one
    completed without counts.

    Each name and path is stored once per builder here: Buildbot's addTestResults reuses the row
    of a name it already has, and only racing calls store one twice, which our schema refuses
    (docs/buildbot-compatibility.md, "Test results", `add_test_results` (schema)); such a
    database fails the import instead (docs/import-buildbot.md)."""
    sets, results = bb.db.test_result_sets, bb.db.test_results
    trs = await sets.addTestResultSet(builderid, bid, steps["test"], "unit tests", "pass_fail",
                                      "boolean")
    await results.addTestResults(builderid, trs, [
        {"test_name": "t_one", "value": "1"},
        {"test_name": "t_two", "test_code_path": "tests/two.py", "line": 3, "value": "0"},
        {"test_code_path": "tests/no_name.py", "line": 10, "duration_ns": 1500, "value": "1"},
        {"test_name": "tëst ünïcode ✓", "test_code_path": "tests/ünï.py", "value": "1"}])
    # a second call: the names and paths it shares with the first are reused
    await results.addTestResults(builderid, trs, [
        {"test_name": "t_one", "test_code_path": "tests/two.py", "duration_ns": 2_000_000_000,
         "value": "0"},
        {"test_name": f"t_only_{n}", "value": "1"}])
    await sets.completeTestResultSet(trs, 3, 2)
    perf = await sets.addTestResultSet(builderid, bid, steps["package"], None, "performance",
                                       "ms")
    await results.addTestResults(builderid, perf, [
        {"test_name": "bench/startup", "test_code_path": "src/main.c", "line": 42,
         "value": "12.5"},
        {"test_code_path": "src/main.c", "line": 99, "value": ""}])
    await sets.completeTestResultSet(perf)
    if n == 1:
        empty = await sets.addTestResultSet(builderid, bid, steps["report"], "", "", "")
        await sets.completeTestResultSet(empty, 0, None)


def epoch(v):
    if isinstance(v, datetime.datetime):
        return int(v.timestamp())
    return v


def plain(v):
    """Representation only: datetimes to epoch seconds, tuples to lists, bytes to text."""
    if isinstance(v, datetime.datetime):
        return epoch(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v


def pick(d, keys):
    return {k: plain(d[k]) for k in keys}


async def read_buildbot(bb, states):
    """What Buildbot's connectors return, in the shape ym_import_check prints."""
    db = bb.db
    out = {}
    out["masters"] = [pick(m, ["id", "name", "active", "last_active"])
                      for m in await db.masters.getMasters()]
    out["builders"] = [dict(pick(b, ["id", "name", "description", "tags"]),
                            masterids=sorted(b["masterids"]))
                       for b in await db.builders.getBuilders()]
    out["workers"] = []
    for w in await db.workers.getWorkers():
        out["workers"].append({
            "id": w["id"], "name": w["name"], "workerinfo": plain(w["workerinfo"]),
            "paused": w["paused"], "graceful": w["graceful"],
            "connected_to": sorted(w["connected_to"]),
            "configured_on": sorted(({"builderid": c["builderid"], "masterid": c["masterid"]}
                                     for c in w["configured_on"]),
                                    key=lambda c: (c["builderid"], c["masterid"]))})
    out["buildsets"] = []
    for b in await db.buildsets.getBuildsets():
        d = pick(b, ["bsid", "external_idstring", "reason", "submitted_at", "complete",
                     "complete_at", "results", "parent_buildid", "parent_relationship"])
        d["sourcestamps"] = sorted(b["sourcestamps"])
        d["properties"] = plain(await db.buildsets.getBuildsetProperties(b["bsid"]))
        out["buildsets"].append(d)
    out["buildrequests"] = [pick(r, ["buildrequestid", "buildsetid", "builderid", "buildername",
                                     "priority", "claimed", "claimed_at", "claimed_by_masterid",
                                     "complete", "complete_at", "submitted_at", "results",
                                     "waited_for"])
                            for r in await db.buildrequests.getBuildRequests()]
    out["builds"] = []
    for b in await db.builds.getBuilds():
        d = pick(b, ["id", "number", "builderid", "buildrequestid", "workerid", "masterid",
                     "started_at", "complete_at", "state_string", "results"])
        d["properties"] = plain(await db.builds.getBuildProperties(b["id"]))
        d["steps"] = []
        for s in await db.steps.getSteps(b["id"]):
            sd = pick(s, ["id", "number", "name", "buildid", "started_at", "complete_at",
                          "state_string", "results", "hidden"])
            sd["urls"] = [{"name": u["name"], "url": u["url"]} for u in s["urls"]]
            sd["logs"] = []
            for lg in await db.logs.getLogs(s["id"]):
                ld = pick(lg, ["id", "name", "slug", "stepid", "complete", "num_lines", "type"])
                ld["lines"] = (await db.logs.getLogLines(lg["id"], 0, lg["num_lines"] - 1)
                               if lg["num_lines"] else "")
                sd["logs"].append(ld)
            d["steps"].append(sd)
        out["builds"].append(d)
    out["changes"] = []
    for c in await db.changes.getChanges():
        d = pick(c, ["changeid", "parent_changeids", "author", "committer", "files", "comments",
                     "revision", "when_timestamp", "branch", "category", "revlink", "properties",
                     "repository", "project", "codebase", "sourcestampid"])
        d["uids"] = sorted(await db.changes.getChangeUids(c["changeid"]))
        out["changes"].append(d)
    out["sourcestamps"] = [pick(s, ["ssid", "branch", "revision", "patchid", "patch_body",
                                    "patch_level", "patch_subdir", "patch_author",
                                    "patch_comment", "repository", "project", "codebase",
                                    "created_at"])
                           for s in await db.sourcestamps.getSourceStamps()]
    out["users"] = []
    for u0 in await db.users.getUsers():
        u = dict(await db.users.getUser(u0["uid"]))
        fields = {k: u.pop(k) for k in ["uid", "identifier", "bb_username", "bb_password"]}
        fields["attributes"] = u
        out["users"].append(fields)
    out["schedulers"] = []
    for s in await db.schedulers.getSchedulers():
        d = pick(s, ["id", "name", "masterid", "enabled"])
        d["classifications"] = plain(await db.schedulers.getChangeClassifications(s["id"]))
        out["schedulers"].append(d)
    out["changesources"] = [pick(c, ["id", "name", "masterid"])
                            for c in await db.changesources.getChangeSources()]
    out["state"] = []
    for name, class_name, key in states:
        oid = await db.state.getObjectId(name, class_name)  # exists: only a read
        out["state"].append({"name": name, "class_name": class_name, "objectid": oid, "key": key,
                             "value": plain(await db.state.getState(oid, key, None))})
    builds = sorted(b["id"] for b in out["builds"])
    steps = sorted(s["id"] for b in out["builds"] for s in b["steps"])
    out.update(await read_newer(bb, sorted(b["id"] for b in out["builders"]), builds, steps))
    return out


# Ids no row has: the calls must answer "nothing" for them as Buildbot does.
UNKNOWN_ID = 999999
# The prefixes given to get_test_names / get_test_code_paths. Buildbot's LIKE differs from our
# exact prefix for `%` and `_`, and for letters some name has in another case or (MySQL, whose
# Buildbot tables are utf8_general_ci) with another accent: "tëst" would match "tests/" there
# (docs/buildbot-compatibility.md, "Test results"). That difference is pinned by the contract
# suite; these prefixes avoid it, so both answers must be equal.
PREFIXES = ["", "t", "tests/", "tëst ü", "src/", "bench/", "nothing"]
SET_KEYS = ["id", "builderid", "buildid", "stepid", "description", "category", "value_unit",
            "tests_passed", "tests_failed", "complete"]
RESULT_KEYS = ["id", "builderid", "test_result_setid", "test_name", "test_code_path", "line",
               "duration_ns", "value"]


def data_entry(d):
    """A build data entry; its value (bytes, or None from the *NoValue calls) in hex: it need
    not be text."""
    if d is None:
        return None
    v = d["value"]
    return {"buildid": d["buildid"], "name": d["name"], "length": d["length"],
            "source": d["source"], "value": None if v is None else bytes(v).hex()}


async def read_newer(bb, builders, builds, steps):
    """Buildbot 3.7's newer data through its connectors: tags are in "builders"; build data of
    every build, test result sets of every builder (with each filter), their results, test names
    and code paths (with each prefix)."""
    db = bb.db
    out = {"build_data": [], "test_result_sets": [], "test_results": [], "test_names": [],
           "test_code_paths": []}
    for bid in builds + [UNKNOWN_ID]:
        entries = [data_entry(d) for d in await db.build_data.getAllBuildDataNoValues(bid)]
        names = sorted(e["name"] for e in entries) + ["no-such-data"]
        d = {"buildid": bid, "all": entries, "get": {}, "no_value": {}}
        for name in names:
            d["get"][name] = data_entry(await db.build_data.getBuildData(bid, name))
            d["no_value"][name] = data_entry(await db.build_data.getBuildDataNoValue(bid, name))
        out["build_data"].append(d)

    sets = db.test_result_sets

    async def get_sets(builderid, **kw):
        return [pick(x, SET_KEYS) for x in await sets.getTestResultSets(builderid, **kw)]
    all_sets = []
    for b in builders + [UNKNOWN_ID]:
        d = {"builderid": b, "all": await get_sets(b),
             "complete": await get_sets(b, complete=True),
             "incomplete": await get_sets(b, complete=False),
             "by_build": [{"buildid": bid, "sets": await get_sets(b, buildid=bid)}
                          for bid in builds + [UNKNOWN_ID]],
             "by_step": [{"stepid": sid, "sets": await get_sets(b, stepid=sid)}
                         for sid in steps + [UNKNOWN_ID]]}
        d["by_all_filters"] = [
            {"setid": x["id"], "sets": await get_sets(b, buildid=x["buildid"], stepid=x["stepid"],
                                                      complete=x["complete"])}
            for x in d["all"]]
        all_sets += d["all"]
        out["test_result_sets"].append(d)

    # Results of every set asked of every builder (only its own builder has them).
    results_of = {b: [] for b in builders}
    for x in all_sets + [{"id": UNKNOWN_ID}]:
        for b in builders:
            rs = [pick(r, RESULT_KEYS) for r in await db.test_results.getTestResults(b, x["id"])]
            results_of[b] += rs
            out["test_results"].append({"setid": x["id"], "builderid": b, "results": rs})

    for b in builders + [UNKNOWN_ID]:
        out["test_names"].append({
            "builderid": b, "all": await db.test_results.getTestNames(b),
            "prefix": {p: await db.test_results.getTestNames(b, name_prefix=p) for p in PREFIXES}})

    # Buildbot's getTestCodePaths ignores its builderid and answers every builder's paths; ours
    # answers the builder's own (docs/buildbot-compatibility.md, "Test results",
    # `get_test_code_paths(builderid, ...)`). So a builder's paths are taken from Buildbot's
    # answers that do filter by builder (getTestResults of its sets), and Buildbot's own
    # getTestCodePaths must equal them all together: that proves none is missed.
    own = {b: sorted({r["test_code_path"] for r in results_of[b] if r["test_code_path"] is not None})
           for b in builders}
    own[UNKNOWN_ID] = []
    every = sorted(p for b in builders for p in own[b])
    for b in builders + [UNKNOWN_ID]:
        theirs = sorted(await db.test_results.getTestCodePaths(b))
        check(theirs == every, f"Buildbot's getTestCodePaths({b}) answers every builder's paths: "
                               f"{theirs} != {every}")
        for p in PREFIXES:
            theirs = sorted(await db.test_results.getTestCodePaths(b, path_prefix=p))
            want = [x for x in every if x.startswith(p)]
            check(theirs == want, f"Buildbot's getTestCodePaths({b}, {p!r}): {theirs} != {want}")
        out["test_code_paths"].append({
            "builderid": b, "all": own[b],
            "prefix": {p: [x for x in own[b] if x.startswith(p)] for p in PREFIXES}})
    return out


def _is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def ordered(doc):
    """Lists of records ordered by their id: the order of a listing is not what is compared."""
    ids = {"masters": "id", "builders": "id", "workers": "id", "buildsets": "bsid",
           "buildrequests": "buildrequestid", "builds": "id", "changes": "changeid",
           "sourcestamps": "ssid", "users": "uid", "schedulers": "id", "changesources": "id"}
    out = dict(doc)
    for k, key in ids.items():
        out[k] = sorted(doc.get(k, []), key=lambda r: r[key])
    for b in out.get("builds", []):
        b["steps"] = sorted(b["steps"], key=lambda s: s["number"])
        for s in b["steps"]:
            s["logs"] = sorted(s["logs"], key=lambda lg: lg["id"])
    # Orders Buildbot leaves to the database (its queries have no ORDER BY; see
    # docs/buildbot-compatibility.md, "Orders Buildbot leaves to the database"): a builder's
    # tags, a build's data, a builder's sets, a set's results, a builder's names. Ours are
    # checked on their own (check_our_orders).
    by_id = lambda xs: sorted(xs, key=lambda x: x["id"])
    for b in out.get("builders", []):
        b["tags"] = sorted(b.get("tags", []))
    for d in out.get("build_data", []):
        d["all"] = sorted(d["all"], key=lambda e: e["name"])
    for d in out.get("test_result_sets", []):
        for k in ("all", "complete", "incomplete"):
            d[k] = by_id(d[k])
        for k in ("by_build", "by_step", "by_all_filters"):
            for x in d[k]:
                x["sets"] = by_id(x["sets"])
    for d in out.get("test_results", []):
        d["results"] = by_id(d["results"])
    for d in out.get("test_names", []) + out.get("test_code_paths", []):
        d["all"] = sorted(d["all"])
        d["prefix"] = {p: sorted(v) for p, v in d["prefix"].items()}
    return out


def check_our_orders(ours, seeded):
    """The orders our connectors promise where Buildbot's are the database's: tags as
    update_builder_info was given them, build data in the order its names were first set, sets
    and results by id."""
    for b in ours.get("builders", []):
        check(b["tags"] == seeded["tags"].get(str(b["id"]), []),
              f"builder {b['id']}'s tags in the order given: {b['tags']}")
    for d in ours.get("build_data", []):
        names = [e["name"] for e in d["all"]]
        want = seeded["build_data"].get(str(d["buildid"]), [])
        check(names == want, f"build {d['buildid']}'s data in the order first set: {names} != {want}")
    for d in ours.get("test_result_sets", []):
        ids = [x["id"] for x in d["all"]]
        check(ids == sorted(ids), f"builder {d['builderid']}'s sets by id: {ids}")
    for d in ours.get("test_results", []):
        ids = [x["id"] for x in d["results"]]
        check(ids == sorted(ids), f"set {d['setid']}'s results by id: {ids}")


def diff(path, a, b, out, limit=40):
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: only ours has it: {b[k]!r:.200}")
            elif k not in b:
                out.append(f"{path}.{k}: only Buildbot has it: {a[k]!r:.200}")
            else:
                diff(f"{path}.{k}", a[k], b[k], out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(f"{path}[{i}]", x, y, out, limit)
    elif a != b:
        out.append(f"{path}: Buildbot {a!r:.300} != ours {b!r:.300}")


# ------------------------------------------------------------------------- raw chunk rows

def chunk_rows(kind, ours_url, path_or_url, backend):
    """Every logchunks row (logid, first_line, last_line, content bytes, compressed)."""
    sql = "SELECT logid, first_line, last_line, content, compressed FROM logchunks " \
          "ORDER BY logid, first_line"
    if kind == "sqlite":
        import sqlite3
        p = path_or_url[len("sqlite:///"):]
        c = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        rows = c.execute(sql).fetchall()
        c.close()
    else:
        name = urllib.parse.urlsplit(path_or_url).path.lstrip("/")
        u = backend.base
        if kind == "postgres":
            import psycopg2
            c = psycopg2.connect(host=u.hostname, port=u.port, user=urllib.parse.unquote(u.username),
                                 password=backend.password, dbname=name)
        else:
            import MySQLdb
            c = MySQLdb.connect(host=u.hostname, port=u.port, user=urllib.parse.unquote(u.username),
                                passwd=backend.password, db=name)
        cur = c.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        c.close()
    return [(r[0], r[1], r[2], bytes(r[3]) if r[3] is not None else None, r[4]) for r in rows]


# ------------------------------------------------------------------------- main

def run_cli(args, *argv):
    p = subprocess.run([args.yardmaster, *argv], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True, choices=["sqlite", "postgres", "mysql"])
    ap.add_argument("--yardmaster", required=True)
    ap.add_argument("--checker", required=True)
    args = ap.parse_args()
    for m in ("buildbot", "sqlalchemy", "lz4"):
        need_module(m)
    from bbdb import open_buildbot_db, run

    tmp = tempfile.mkdtemp(prefix="ym-import-test-")
    backend = Backend(args.backend, tmp)
    try:
        bb_url, bb_ours = backend.new_database("bb")
        _, target = backend.new_database("ym")
        future_bb, future_ours = backend.new_database("future")
        expected = {}

        # One reactor run (Twisted's reactor does not restart) for all of Buildbot's work.
        async def make():
            bb = await open_buildbot_db(bb_url, basedir=tmp)
            states = await fill(bb)
            expected["doc"] = await read_buildbot(bb, states)
            expected["states"] = states
            expected["seeded"] = bb.seeded
            await bb.close()
            if args.backend != "sqlite":
                # A Buildbot schema whose version this program does not know.
                fb = await open_buildbot_db(future_bb, basedir=tmp)
                def stamp(conn):
                    conn.execute("UPDATE alembic_version SET version_num = '065_2099_future'")
                await fb.db.pool.do(stamp)
                await fb.close()
        run(make)
        print(f"Buildbot database made on {args.backend}", flush=True)
        before = backend.fingerprint(bb_url)
        source_chunks = chunk_rows(args.backend, bb_ours, bb_ours, backend)
        codecs = sorted({r[4] for r in source_chunks})
        check(codecs == [0, 1, 2, 3], f"the Buildbot logs use every codec (raw, gzip, bzip2, lz4): {codecs}")

        rc, out, err = run_cli(args, "db", "import-buildbot", bb_ours, target, "--json")
        check(rc == 0, f"import exits 0 (got {rc}; stderr: {err.strip()})")
        if backend.password:
            check(backend.password not in out + err, "no password in the import's output")
        report = json.loads(out) if rc == 0 else {"tables": [], "not_imported": []}
        check(report.get("buildbot_version") == "059", f"version 059 found: {report.get('buildbot_version')}")
        check("imported" in err and "row counts verified" in err, f"progress/summary on stderr: {err!r:.300}")
        for t in report["tables"]:
            check(t["source_rows"] == t["imported_rows"], f"counts of {t['table']}: {t}")
        counts = {t["buildbot_table"]: t["source_rows"] for t in report["tables"]}
        for table in ("masters", "builders", "workers", "buildsets", "buildrequests",
                      "buildrequest_claims", "builds", "build_properties", "steps", "logs",
                      "logchunks", "changes", "change_files", "change_properties", "change_users",
                      "sourcestamps", "patches", "users", "users_info", "schedulers",
                      "scheduler_masters", "scheduler_changes", "changesources",
                      "changesource_masters", "objects", "object_state", "buildset_properties",
                      "buildset_sourcestamps", "builder_masters", "configured_workers",
                      "connected_workers", "tags", "builders_tags", "build_data",
                      "test_result_sets", "test_results", "test_names", "test_code_paths"):
            check(counts.get(table, 0) > 0, f"the test data has rows in {table}: {counts.get(table)}")
        # What this schema cannot hold yet is reported, with its counts.
        left = {x["buildbot_table"]: x["rows"] for x in report["not_imported"]}
        for t in left:
            check(f"rows of Buildbot's {t} were not imported" in err, f"warning for {t} on stderr")
        after = backend.fingerprint(bb_url)
        check(before == after, "the Buildbot database is unchanged by the import")

        p = subprocess.run([args.checker, target] +
                           sum((["--state", ",".join(s)] for s in expected["states"]), []) +
                           sum((["--prefix", x] for x in PREFIXES), []),
                           capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, f"checker exits 0: {p.stderr.strip()}")
        ours = json.loads(p.stdout) if p.returncode == 0 else {}
        check_our_orders(ours, expected["seeded"])
        ours = ordered(ours)
        theirs = ordered(plain(expected["doc"]))
        problems = []
        diff("", theirs, ours, problems)
        for line in problems:
            print(f"  differs: {line}")
        check(not problems, f"our connectors answer as Buildbot's ({len(problems)} differences)")
        n_lines = sum(len(lg["lines"]) for b in theirs["builds"] for s in b["steps"] for lg in s["logs"])
        print(f"compared {len(theirs['builds'])} builds, {len(theirs['changes'])} changes, "
              f"{len(theirs['users'])} users, {n_lines} characters of log", flush=True)
        # The newer data compared is what the seeding meant (not vacuously empty answers).
        data = [e for d in theirs["build_data"] for e in d["get"].values() if e]
        sets = [x for d in theirs["test_result_sets"] for x in d["all"]]
        results = [r for d in theirs["test_results"] for r in d["results"]]
        values = [bytes.fromhex(e["value"]) for e in data]
        check(any(not _is_utf8(v) for v in values) and max(map(len, values)) > 1_000_000
              and b"" in values, "Buildbot's build data has a binary, a large and an empty value")
        check(sum(len(b["tags"]) for b in theirs["builders"]) >= 4, "Buildbot's builders have tags")
        check({x["complete"] for x in sets} == {True, False} and
              any(x["description"] is None for x in sets), f"Buildbot's sets: {sets!r:.300}")
        check(any(r["test_name"] is None for r in results) and
              any(r["test_code_path"] is None for r in results) and
              any(r["test_name"] and r["test_code_path"] for r in results),
              "Buildbot's results have no name, no path, and both")
        print(f"compared {len(data)} build data values ({sum(map(len, values))} bytes), "
              f"{len(sets)} test result sets, {len(results)} test results, "
              f"{sum(len(d['all']) for d in theirs['test_names'])} test names, "
              f"{sum(len(d['all']) for d in theirs['test_code_paths'])} code paths", flush=True)

        target_chunks = chunk_rows(args.backend, target, target, backend)
        check(source_chunks == target_chunks, "log chunks are copied byte for byte")

        # Importing twice: refused, and nothing changes.
        rc2, out2, err2 = run_cli(args, "db", "import-buildbot", bb_ours, target)
        check(rc2 == 2 and "already holds data" in err2, f"a second import is refused: {rc2} {err2.strip()}")

        # An unknown version: refused, named, nothing created.
        if args.backend == "sqlite":
            shutil.copyfile(bb_url[len("sqlite:///"):], future_bb[len("sqlite:///"):])
            import sqlite3
            c = sqlite3.connect(future_bb[len("sqlite:///"):])
            c.execute("UPDATE alembic_version SET version_num = '065_2099_future'")
            c.commit()
            c.close()
        _, fresh = backend.new_database("fresh")
        rc3, _, err3 = run_cli(args, "db", "import-buildbot", future_ours, fresh)
        check(rc3 == 2 and "'065_2099_future'" in err3,
              f"an unknown version is refused and named: {rc3} {err3.strip()}")
        if args.backend == "sqlite":
            check(not os.path.exists(fresh[len("sqlite:///"):]), "a refused import creates no file")

        # New rows get ids after the imported ones (counters moved past them).
        p = subprocess.run([args.checker, target, "--probe"], capture_output=True, text=True,
                           timeout=300)
        check(p.returncode == 0, f"probe runs: {p.stderr.strip()}")
        if p.returncode == 0:
            probe = json.loads(p.stdout)["probe"]
            maxima = {"masterid": ("masters", "id"), "builderid": ("builders", "id"),
                      "workerid": ("workers", "id"), "schedulerid": ("schedulers", "id"),
                      "changesourceid": ("changesources", "id"), "uid": ("users", "uid"),
                      "changeid": ("changes", "changeid"), "ssid": ("sourcestamps", "ssid"),
                      "bsid": ("buildsets", "bsid"), "brid": ("buildrequests", "buildrequestid")}
            for k, (table, key) in maxima.items():
                top = max(r[key] for r in theirs[table])
                check(probe[k] > top, f"a new {k} ({probe[k]}) comes after the imported ones ({top})")
            top = max(s["objectid"] for s in theirs["state"])
            check(probe["objectid"] > top, f"a new object id ({probe['objectid']}) after {top}")
    finally:
        backend.drop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"ImportBuildbot.{args.backend}: {len(failures)} checks failed", flush=True)
        return 1
    print(f"ImportBuildbot.{args.backend}: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
