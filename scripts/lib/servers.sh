# Throwaway PostgreSQL 15 and MariaDB servers for tests and benchmarks. Source this file, then:
#
#   ym_servers_start [DIR]    start both under DIR (default: a new directory on /dev/shm when it
#                             is there, since DDL on a tmpfs costs no fsync, else under $TMPDIR),
#                             on free 127.0.0.1 ports
#   ym_servers_stop           stop whatever ym_servers_start started (safe to call twice)
#   ym_servers_cleanup [LOGS] copy the server logs into LOGS (if given), then delete the servers'
#                             data directory
#   ym_servers_logs           print where the server logs are
#
# ym_servers_start exports, for the tests:
#   YM_TEST_POSTGRES_URL, YM_TEST_MYSQL_URL    URLs of an empty database owned by a user "ym"
#                                              with a random password (never printed)
#   YM_TEST_POSTGRES_CTL, YM_TEST_MYSQL_CTL    a script taking "stop" or "start", so that a test
#                                              can restart a server with the very same commands
#   YM_TEST_PGBOUNCER_URL                      the "ym" database through PgBouncer in
#                                              pool_mode=transaction, in front of that PostgreSQL
#   YM_TEST_GALERA_URL (and _URLS, _CTLS)      a MariaDB Galera cluster of three nodes (see
#                                              ym_start_galera)
# YM_SERVERS lists what to start: by default "postgres mysql pgbouncer galera".
# A URL already set in the environment means "use that server": it is left alone and nothing is
# started for it. YM_SERVERS=postgres or YM_SERVERS=mysql starts only that one.
#
# As root, both servers run as their system users (postgres, mysql: PostgreSQL refuses to run as
# root); otherwise they run as the current user. They listen on loopback only and trade
# durability for speed (fsync off): they hold nothing worth keeping.
# YM_SERVERS_DURABLE=1 (what scripts/bench uses) keeps each server's default commit durability
# (fsync on, InnoDB flushing its log at every commit) and puts the data on disk, not on /dev/shm,
# so that figures compare with SQLite at synchronous=FULL.
# YM_SERVERS_CRASH_SAFE=1 (what tests/faults uses) keeps fsync off but makes every commit survive
# a crash of the server process (pg_ctl stop -m immediate, kill -9 of mariadbd), though not of the
# machine: PostgreSQL keeps synchronous_commit on, InnoDB hands its log to the OS at each commit.

ym_pg_bin=${YM_PG_BIN:-/usr/lib/postgresql/15/bin}
ym_servers_dir=""
ym_servers_started=()

# A TCP port on 127.0.0.1 that nothing listens on, below the ephemeral range.
ym_free_port() {
  local port i low=32768 span
  # Below the kernel's ephemeral range, so that no outgoing connection's local port can take the
  # port between this check and the server's bind (the tests open thousands of connections).
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  span=$((low - 10000))
  [ "$span" -ge 2000 ] || span=20000
  for i in $(seq 1 100); do
    port=$((10000 + RANDOM % span))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "servers: no free port found" >&2
  return 1
}

# "runuser -u USER --" when root, nothing otherwise: the prefix of every server command.
ym_as() {
  if [ "$(id -u)" = 0 ]; then echo "runuser -u $1 --"; fi
}

# chown, when root (the server users must own their directories).
ym_chown() {
  if [ "$(id -u)" = 0 ]; then chown -R "$@"; fi
}

# The MariaDB account that mariadb-install-db lets in over the socket without a password.
ym_mysql_admin() {
  if [ "$(id -u)" = 0 ]; then echo root; else id -un; fi
}

ym_random_password() {
  head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# Writes the control script of a server: "$ctl start" and "$ctl stop" are all that scripts/test
# and the restart tests ever run, so the two cannot drift apart.
# Extra server options (-c name=value ...) may come in YM_PG_EXTRA_OPTS.
ym_write_postgres_ctl() {
  local dir=$1 port=$2 ctl=$1/ctl fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${YM_SERVERS_CRASH_SAFE:-0}" = 1 ] && fast="-c fsync=off -c full_page_writes=off"
  [ "${YM_SERVERS_DURABLE:-0}" = 1 ] && fast=""
  fast="$fast ${YM_PG_EXTRA_OPTS:-}"
  cat >"$ctl" <<EOF
#!/usr/bin/env bash
# Starts or stops the throwaway PostgreSQL server in $dir.
set -euo pipefail
case "\${1:-}" in
  start)
    $(ym_as postgres) "$ym_pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \\
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock $fast \\
          -c max_connections=300" \\
      start >/dev/null
    ;;
  stop)
    # A server already down (killed by a failover test) is stopped.
    $(ym_as postgres) "$ym_pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || exit 0
    $(ym_as postgres) "$ym_pg_bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
  kill)
    # A crash: no shutdown checkpoint, the backends gone at once, the next start recovers.
    $(ym_as postgres) "$ym_pg_bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null
    ;;
  promote)
    # A standby becomes a primary (and accepts writes) once this returns.
    $(ym_as postgres) "$ym_pg_bin/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
    ;;
  status)
    $(ym_as postgres) "$ym_pg_bin/pg_ctl" -D "$dir/data" status >/dev/null
    ;;
  *) echo "usage: \$0 start|stop|kill|promote|status" >&2; exit 2 ;;
esac
EOF
  chmod 755 "$ctl"
}

# Extra server options may come in YM_MYSQL_EXTRA_OPTS (a Galera node's wsrep settings), as
# shell words: they are pasted into the control script.
ym_write_mysql_ctl() {
  local dir=$1 port=$2 ctl=$1/ctl fast="--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0"
  [ "${YM_SERVERS_CRASH_SAFE:-0}" = 1 ] && fast="--innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0"
  [ "${YM_SERVERS_DURABLE:-0}" = 1 ] && fast=""
  fast="$fast ${YM_MYSQL_EXTRA_OPTS:-}"
  cat >"$ctl" <<EOF
#!/usr/bin/env bash
# Starts or stops the throwaway MariaDB server in $dir.
set -euo pipefail
pid_file="$dir/data/mariadbd.pid"
alive() { [ -f "\$pid_file" ] && kill -0 "\$(cat "\$pid_file")" 2>/dev/null; }
case "\${1:-}" in
  start | bootstrap)
    # bootstrap: the first node of a new Galera cluster (the others join it).
    first=""
    [ "\$1" = bootstrap ] && first=--wsrep-new-cluster
    # A temporary directory of its own: a MariaDB server that starts removes every "#sql" file
    # of its tmpdir, and in a shared /tmp those are the running servers' temporary tables (a
    # query of another server then fails, or the server crashes dropping the table).
    mkdir -p "$dir/tmp"
    [ "\$(id -u)" != 0 ] || chown mysql: "$dir/tmp"
    # Detached, every descriptor to the log: a test that restarts the server must not end up
    # holding its output pipe open.
    setsid $(ym_as mysql) mariadbd --no-defaults --datadir="$dir/data" \$first \\
      --socket="$dir/data/sock" --port=$port --bind-address=127.0.0.1 --pid-file="\$pid_file" \\
      --tmpdir="$dir/tmp" \\
      --log-error="$dir/server.log" --skip-name-resolve --skip-log-bin --max-connections=300 \\
      $fast --innodb-buffer-pool-size=128M \\
      --innodb-log-file-size=32M \\
      --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \\
      </dev/null >>"$dir/server.log" 2>&1 &
    for _ in \$(seq 1 600); do
      if mariadb-admin --no-defaults --socket="$dir/data/sock" -u $(ym_mysql_admin) ping >/dev/null 2>&1; then
        exit 0
      fi
      sleep 0.1
    done
    echo "MariaDB did not start; see $dir/server.log" >&2
    exit 1
    ;;
  stop)
    if alive; then
      pid=\$(cat "\$pid_file")
      kill -TERM "\$pid"
      for _ in \$(seq 1 600); do
        kill -0 "\$pid" 2>/dev/null || exit 0
        sleep 0.1
      done
      echo "MariaDB did not stop; see $dir/server.log" >&2
      exit 1
    fi
    ;;
  kill)
    # A crash: kill -9, InnoDB recovers at the next start (a Galera node rejoins by IST or SST).
    if alive; then
      pid=\$(cat "\$pid_file")
      kill -KILL "\$pid"
      while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
    fi
    ;;
  status)
    alive
    ;;
  *) echo "usage: \$0 start|bootstrap|stop|kill|status" >&2; exit 2 ;;
esac
EOF
  chmod 755 "$ctl"
}

# ym_start_postgres_ctl DIR WHAT: writes DIR/ctl on a free port and starts it (three ports are
# tried: another process may take a free one first); sets $port. WHAT names it in the error.
ym_start_postgres_ctl() {
  local dir=$1 what=$2 try
  for try in 1 2 3; do
    port=$(ym_free_port) || return 1
    ym_write_postgres_ctl "$dir" "$port"
    if "$dir/ctl" start; then
      ym_servers_started+=("$dir/ctl")
      return 0
    fi
  done
  echo "servers: $what did not start; see $dir/server.log" >&2
  return 1
}

ym_start_postgres() {
  local dir=$ym_servers_dir/postgres port password
  mkdir -p "$dir/sock"
  ym_chown postgres: "$dir"
  password=$(ym_random_password)
  # The superuser only logs in over the socket (trust); "ym" has a password over TCP, so that
  # the tests go through real authentication.
  if ! $(ym_as postgres) "$ym_pg_bin/initdb" -D "$dir/data" -U postgres -E UTF8 \
      --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1; then
    echo "servers: initdb failed; see $dir/initdb.log" >&2
    return 1
  fi
  ym_start_postgres_ctl "$dir" PostgreSQL || return 1
  $(ym_as postgres) "$ym_pg_bin/psql" -h "$dir/sock" -p "$port" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -q >"$dir/setup.log" 2>&1 <<EOF || {
CREATE ROLE ym LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE ym OWNER ym;
EOF
    echo "servers: creating the PostgreSQL test user failed; see $dir/setup.log" >&2
    return 1
  }
  ym_pg_port=$port
  ym_pg_password=$password
  export YM_TEST_POSTGRES_URL="postgresql://ym:$password@127.0.0.1:$port/ym"
  export YM_TEST_POSTGRES_CTL="$dir/ctl"
  echo "servers: PostgreSQL 15 on 127.0.0.1:$port (data and log in $dir)"
}

# A PostgreSQL primary (as ym_start_postgres makes it) and a streaming standby of it, cloned by
# pg_basebackup -R and named standby1, which the primary then waits for at every commit
# (synchronous_standby_names): a commit the primary acknowledged is on the standby too, so a
# failover loses none. Exports, besides what ym_start_postgres does:
#   YM_TEST_POSTGRES_PAIR_URL     both hosts, primary first, target_session_attrs=read-write
#   YM_TEST_POSTGRES_STANDBY_CTL  the standby's control script (start, stop, kill, promote)
ym_start_postgres_pair() {
  YM_PG_EXTRA_OPTS="-c wal_level=replica -c max_wal_senders=5 -c wal_keep_size=256MB" \
    ym_start_postgres || return 1
  local primary=$ym_servers_dir/postgres dir=$ym_servers_dir/standby port
  mkdir -p "$dir/sock"
  ym_chown postgres: "$dir"
  # Over the primary's socket, where initdb's pg_hba.conf trusts local replication.
  if ! $(ym_as postgres) "$ym_pg_bin/pg_basebackup" -h "$primary/sock" -p "$ym_pg_port" \
      -U postgres -D "$dir/data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1; then
    echo "servers: pg_basebackup failed; see $dir/basebackup.log" >&2
    return 1
  fi
  # The standby's name, which the primary's synchronous_standby_names waits for.
  echo "primary_conninfo = 'host=$primary/sock port=$ym_pg_port user=postgres application_name=standby1'" |
    $(ym_as postgres) tee -a "$dir/data/postgresql.auto.conf" >/dev/null
  YM_PG_EXTRA_OPTS="-c hot_standby=on -c wal_level=replica -c max_wal_senders=5" \
    ym_start_postgres_ctl "$dir" "the PostgreSQL standby" || return 1
  local psql="$(ym_as postgres) $ym_pg_bin/psql -h $primary/sock -p $ym_pg_port -U postgres -d postgres -qAt"
  $psql -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" -c "SELECT pg_reload_conf()" \
    >/dev/null || return 1
  local state="" i
  for i in $(seq 1 300); do
    state=$($psql -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'")
    [ "$state" = sync ] && break
    sleep 0.1
  done
  if [ "$state" != sync ]; then
    echo "servers: the standby is not synchronous ('$state'); see $dir/server.log" >&2
    return 1
  fi
  export YM_TEST_POSTGRES_PAIR_URL="postgresql://ym:$ym_pg_password@127.0.0.1:$ym_pg_port,127.0.0.1:$port/ym?target_session_attrs=read-write&connect_timeout=2"
  export YM_TEST_POSTGRES_STANDBY_CTL="$dir/ctl"
  echo "servers: PostgreSQL standby (synchronous) on 127.0.0.1:$port (data and log in $dir)"
}

# PgBouncer 1.18 in front of the PostgreSQL server that ym_start_postgres started, in
# pool_mode=transaction (each transaction on whichever server connection is free), every
# database name passed through. Exports YM_TEST_PGBOUNCER_URL (the "ym" database through it,
# with ?transaction_pooling=1) and YM_TEST_PGBOUNCER_CTL.
ym_start_pgbouncer() {
  local dir=$ym_servers_dir/pgbouncer port try
  if ! command -v pgbouncer >/dev/null; then
    echo "servers: pgbouncer is not installed (scripts/setup installs it)" >&2
    return 1
  fi
  mkdir -p "$dir"
  # The client logs in with SCRAM; PgBouncer logs in to the server with the same password.
  (umask 077; printf '"ym" "%s"\n' "$ym_pg_password" >"$dir/userlist.txt")
  ym_chown postgres: "$dir"
  for try in 1 2 3; do
    port=$(ym_free_port) || return 1
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$ym_pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 120
logfile = $dir/server.log
pidfile = $dir/pgbouncer.pid
EOF
    cat >"$dir/ctl" <<EOF
#!/usr/bin/env bash
# Starts or stops the throwaway PgBouncer in $dir.
set -euo pipefail
pid_file="$dir/pgbouncer.pid"
case "\${1:-}" in
  start)
    # Its own log is server.log (which it must own); what it says before opening it goes here.
    $(ym_as postgres) pgbouncer -d "$dir/pgbouncer.ini" >>"$dir/start.log" 2>&1
    for _ in \$(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && exit 0
      sleep 0.1
    done
    echo "PgBouncer did not start; see $dir/server.log and $dir/start.log" >&2
    exit 1
    ;;
  stop)
    [ -f "\$pid_file" ] || exit 0
    pid=\$(cat "\$pid_file")
    kill -TERM "\$pid" 2>/dev/null || exit 0
    for _ in \$(seq 1 100); do
      kill -0 "\$pid" 2>/dev/null || exit 0
      sleep 0.1
    done
    kill -KILL "\$pid" 2>/dev/null || true
    ;;
  *) echo "usage: \$0 start|stop" >&2; exit 2 ;;
esac
EOF
    chmod 755 "$dir/ctl"
    ym_chown postgres: "$dir"
    if "$dir/ctl" start; then break; fi
    if [ "$try" = 3 ]; then
      echo "servers: PgBouncer did not start; see $dir/server.log" >&2
      return 1
    fi
  done
  ym_servers_started+=("$dir/ctl")
  export YM_TEST_PGBOUNCER_URL="postgresql://ym:$ym_pg_password@127.0.0.1:$port/ym?transaction_pooling=1"
  export YM_TEST_PGBOUNCER_CTL="$dir/ctl"
  echo "servers: PgBouncer 1.18 (pool_mode=transaction) on 127.0.0.1:$port in front of PostgreSQL"
}

# ym_mysql_test_user DIR PASSWORD WHAT: on the MariaDB server in DIR, the user "ym" (that
# password, over TCP from 127.0.0.1) and its database "ym"; "ym" may create the per-test databases
# ym_*, nothing else. WHAT names the server in the error.
ym_mysql_test_user() {
  local dir=$1 password=$2 what=$3
  if ! mariadb --no-defaults --socket="$dir/data/sock" -u "$(ym_mysql_admin)" >"$dir/setup.log" 2>&1 <<EOF; then
CREATE USER 'ym'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE DATABASE ym CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
GRANT ALL PRIVILEGES ON \`ym%\`.* TO 'ym'@'127.0.0.1';
EOF
    echo "servers: creating the $what test user failed; see $dir/setup.log" >&2
    return 1
  fi
}

ym_start_mysql() {
  local dir=$ym_servers_dir/mysql port password
  mkdir -p "$dir"
  ym_chown mysql: "$dir"
  password=$(ym_random_password)
  local os_user=mysql
  [ "$(id -u)" = 0 ] || os_user=$(id -un)
  # Its own tmpdir (see ym_write_mysql_ctl): the bootstrap server would clear a shared /tmp too.
  mkdir -p "$dir/tmp"
  ym_chown mysql: "$dir/tmp"
  if ! mariadb-install-db --no-defaults --user="$os_user" --datadir="$dir/data" --tmpdir="$dir/tmp" \
      --skip-test-db --auth-root-authentication-method=socket >"$dir/install-db.log" 2>&1; then
    echo "servers: mariadb-install-db failed; see $dir/install-db.log" >&2
    return 1
  fi
  local try
  for try in 1 2 3; do
    port=$(ym_free_port) || return 1
    ym_write_mysql_ctl "$dir" "$port"
    if "$dir/ctl" start; then break; fi
    "$dir/ctl" stop || true
    if [ "$try" = 3 ]; then
      echo "servers: MariaDB did not start; see $dir/server.log" >&2
      return 1
    fi
  done
  ym_servers_started+=("$dir/ctl")
  ym_mysql_test_user "$dir" "$password" MariaDB || return 1
  export YM_TEST_MYSQL_URL="mysql://ym:$password@127.0.0.1:$port/ym"
  export YM_TEST_MYSQL_CTL="$dir/ctl"
  echo "servers: MariaDB on 127.0.0.1:$port (data and log in $dir)"
}

# Waits (a minute at most) until the Galera node in DIR says it is Synced with its cluster.
ym_galera_synced() {
  local dir=$1 state="" n
  for n in $(seq 1 600); do
    state=$(mariadb --no-defaults --socket="$dir/data/sock" -u "$(ym_mysql_admin)" -N -B \
      -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)
    [ "$state" = Synced ] && return 0
    sleep 0.1
  done
  echo "servers: the Galera node in $dir is not synced ('$state')" >&2
  return 1
}

# After a joiner died (a port taken under it during its state transfer): waits until the Galera
# node in DIR sees a cluster of SIZE nodes again, the dead one gone, and gives it the primary
# component back if it lost it (node 1 alone keeps half of the last primary view, no majority, and
# the next joiner would find no primary to join). Half a minute at most.
ym_galera_keep_primary() {
  local dir=$1 size=$2 status members n
  local q=(mariadb --no-defaults --socket="$dir/data/sock" -u "$(ym_mysql_admin)" -N -B)
  for n in $(seq 1 300); do
    read -r status members < <("${q[@]}" -e "SELECT MAX(IF(VARIABLE_NAME = 'WSREP_CLUSTER_STATUS', \
VARIABLE_VALUE, NULL)), MAX(IF(VARIABLE_NAME = 'WSREP_CLUSTER_SIZE', VARIABLE_VALUE, NULL)) FROM \
information_schema.GLOBAL_STATUS" 2>/dev/null || true)
    if [ "$status" != Primary ]; then
      "${q[@]}" -e "SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'" 2>/dev/null || true
    elif [ "$members" = "$size" ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "servers: the Galera node in $dir is not back to a primary component of $size ('$status', $members nodes)" >&2
  return 1
}

# A MariaDB Galera cluster of three nodes (galera-4) on loopback: node 1 bootstraps it, nodes 2
# and 3 join by state transfer (rsync), each with its own client, group (gcomm), IST and SST
# ports. Every node is a full MariaDB server that takes writes; a transaction that conflicts with
# one certified first on another node fails at its COMMIT with a deadlock error (1213).
# Exports:
#   YM_TEST_GALERA_URLS         the "ym" database on node 1, 2 and 3, one URL each, space-separated
#   YM_TEST_GALERA_URL          one URL listing the three nodes (a client tries them in order)
#   YM_TEST_GALERA_CTLS         the nodes' control scripts (start, stop, kill, status), space-separated
ym_start_galera() {
  local base=$ym_servers_dir/galera i try password os_user=mysql provider=/usr/lib/galera/libgalera_smm.so
  if [ ! -f "$provider" ]; then
    echo "servers: galera-4 is not installed (scripts/setup installs it)" >&2
    return 1
  fi
  [ "$(id -u)" = 0 ] || os_user=$(id -un)
  mkdir -p "$base"
  ym_chown mysql: "$base"
  password=$(ym_random_password)
  local ports=() gports=() iports=() sports=() p
  # Twelve free ports, all different.
  while [ ${#ports[@]} -lt 12 ]; do
    p=$(ym_free_port) || return 1
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
  done
  local cluster="gcomm://127.0.0.1:${ports[3]},127.0.0.1:${ports[4]},127.0.0.1:${ports[5]}"
  local urls=() hosts=() ctls=()
  for i in 1 2 3; do
    local dir=$base/node$i port=${ports[$((i - 1))]} gport=${ports[$((i + 2))]}
    local iport=${ports[$((i + 5))]} sport=${ports[$((i + 8))]} started=""
    mkdir -p "$dir"
    ym_chown mysql: "$dir"
    # Three tries: a port found free may be taken (by an outgoing connection's ephemeral port)
    # before the node binds it. The group port is in every node's cluster address and stays; the
    # node's client, IST and SST ports are its own and are chosen again.
    for try in 1 2 3; do
      if [ "$try" -gt 1 ]; then
        port=$(ym_free_port) && iport=$(ym_free_port) && sport=$(ym_free_port) || return 1
      fi
      rm -rf "$dir/data"
      mkdir -p "$dir/tmp"
      ym_chown mysql: "$dir/tmp"
      if ! mariadb-install-db --no-defaults --user="$os_user" --datadir="$dir/data" \
          --tmpdir="$dir/tmp" --skip-test-db --auth-root-authentication-method=socket \
          >"$dir/install-db.log" 2>&1; then
        echo "servers: mariadb-install-db failed; see $dir/install-db.log" >&2
        return 1
      fi
      # wsrep_sync_wait stays at the server's default (0): Yardmaster's driver sets it for its own
      # sessions, and the tests must see that it does.
      YM_MYSQL_EXTRA_OPTS="--wsrep-on=ON --wsrep-provider=$provider --wsrep-cluster-name=ym \
--wsrep-cluster-address=$cluster --wsrep-node-name=node$i --wsrep-node-address=127.0.0.1:$gport \
'--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:$gport;ist.recv_addr=127.0.0.1:$iport;gcache.size=256M' \
--wsrep-sst-method=rsync --wsrep-sst-receive-address=127.0.0.1:$sport \
--binlog-format=ROW --innodb-autoinc-lock-mode=2 --default-storage-engine=InnoDB" \
        ym_write_mysql_ctl "$dir" "$port"
      local verb=start
      [ "$i" = 1 ] && verb=bootstrap
      if "$dir/ctl" $verb && ym_galera_synced "$dir"; then
        started=1
        break
      fi
      "$dir/ctl" kill || true
      cp "$dir/server.log" "$dir/server.log.try$try" 2>/dev/null || true
      if [ "$i" -gt 1 ]; then ym_galera_keep_primary "$base/node1" $((i - 1)) || return 1; fi
    done
    ym_servers_started+=("$dir/ctl")
    if [ -z "$started" ]; then
      echo "servers: Galera node $i did not start and sync; see $dir/server.log*" >&2
      return 1
    fi
    # Made on node 1; the others have it by replication.
    if [ "$i" = 1 ]; then ym_mysql_test_user "$dir" "$password" Galera || return 1; fi
    urls+=("mysql://ym:$password@127.0.0.1:$port/ym")
    hosts+=("127.0.0.1:$port")
    ctls+=("$dir/ctl")
  done
  local joined
  joined=$(IFS=,; echo "${hosts[*]}")
  ym_galera_password=$password
  export YM_TEST_GALERA_URLS="${urls[*]}"
  export YM_TEST_GALERA_URL="mysql://ym:$password@$joined/ym"
  export YM_TEST_GALERA_CTLS="${ctls[*]}"
  echo "servers: MariaDB Galera cluster of 3 nodes on $joined (data and logs in $base)"
}

ym_servers_start() {
  if [ -n "${1:-}" ]; then
    ym_servers_dir=$1
  elif [ "${YM_SERVERS_DURABLE:-0}" != 1 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    ym_servers_dir=$(mktemp -d /dev/shm/ym-servers.XXXXXX)
  else
    ym_servers_dir=$(mktemp -d "${TMPDIR:-/tmp}/ym-servers.XXXXXX")
  fi
  mkdir -p "$ym_servers_dir"
  # The server users must reach their directories below it.
  chmod 755 "$ym_servers_dir"
  local want=${YM_SERVERS:-postgres mysql pgbouncer galera}
  if [[ " $want " == *" postgres "* ]]; then
    if [ -n "${YM_TEST_POSTGRES_URL:-}" ]; then
      echo "servers: using the PostgreSQL server in YM_TEST_POSTGRES_URL"
    else
      ym_start_postgres || return 1
    fi
  fi
  if [[ " $want " == *" pgbouncer "* ]] && [ -z "${YM_TEST_PGBOUNCER_URL:-}" ]; then
    # In front of the server started here (it needs its password); a PostgreSQL of your own
    # comes with YM_TEST_PGBOUNCER_URL of your own, or without PgBouncer tests.
    if [ -n "${ym_pg_password:-}" ]; then
      ym_start_pgbouncer || return 1
    else
      echo "servers: no PgBouncer: YM_TEST_POSTGRES_URL names a server of yours (set YM_TEST_PGBOUNCER_URL)"
    fi
  fi
  if [[ " $want " == *" mysql "* ]]; then
    if [ -n "${YM_TEST_MYSQL_URL:-}" ]; then
      echo "servers: using the MySQL server in YM_TEST_MYSQL_URL"
    else
      ym_start_mysql || return 1
    fi
  fi
  if [[ " $want " == *" galera "* ]]; then
    if [ -n "${YM_TEST_GALERA_URL:-}" ]; then
      echo "servers: using the Galera cluster in YM_TEST_GALERA_URL"
    else
      ym_start_galera || return 1
    fi
  fi
}

# ym_server_new_database postgres|mysql NAME: (re)creates an empty database NAME (letters, digits
# and _) on a server that ym_servers_start started, and prints its URL (with the password: keep
# it out of logs).
ym_server_new_database() {
  local backend=$1 name=$2
  [[ "$name" =~ ^[a-z0-9_]+$ ]] || { echo "servers: bad database name '$name'" >&2; return 1; }
  case "$backend" in
    postgres)
      $(ym_as postgres) "$ym_pg_bin/psql" -h "$ym_servers_dir/postgres/sock" -p "$ym_pg_port" \
        -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name OWNER ym" >/dev/null || return 1
      echo "${YM_TEST_POSTGRES_URL%/*}/$name"
      ;;
    mysql)
      [[ "$name" == ym* ]] || { echo "servers: MySQL database names start with ym" >&2; return 1; }
      mariadb --no-defaults --socket="$ym_servers_dir/mysql/data/sock" -u "$(ym_mysql_admin)" \
        -e "DROP DATABASE IF EXISTS $name; CREATE DATABASE $name CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" \
        || return 1
      echo "${YM_TEST_MYSQL_URL%/*}/$name"
      ;;
    *) echo "servers: unknown backend '$backend'" >&2; return 1 ;;
  esac
}

ym_servers_stop() {
  local ctl
  for ctl in "${ym_servers_started[@]}"; do
    "$ctl" stop || echo "servers: could not stop the server of $ctl" >&2
  done
  ym_servers_started=()
}

ym_servers_logs() {
  [ -n "$ym_servers_dir" ] || return 0
  local log
  for log in "$ym_servers_dir"/{postgres,mysql,pgbouncer,galera/node1,galera/node2,galera/node3}/server.log; do
    [ -f "$log" ] && echo "servers: log: $log"
  done
  return 0
}

ym_servers_cleanup() {
  [ -n "$ym_servers_dir" ] && [ -d "$ym_servers_dir" ] || return 0
  local dest=${1:-} server f
  if [ -n "$dest" ]; then
    for server in postgres mysql pgbouncer galera/node1 galera/node2 galera/node3; do
      for f in "$ym_servers_dir/$server"/*.log; do
        [ -f "$f" ] || continue
        mkdir -p "$dest/$server"
        cp "$f" "$dest/$server/"
      done
    done
  fi
  rm -rf "$ym_servers_dir"
  ym_servers_dir=""
}
