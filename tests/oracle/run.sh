#!/usr/bin/env bash
# Runs the differential test against Buildbot 3.7 by hand, starting throwaway servers for
# --backend postgres / mysql when YM_TEST_POSTGRES_URL / YM_TEST_MYSQL_URL are not set:
#   tests/oracle/run.sh --backend postgres --seed 13 --calls 500 --component buildrequests
# Every other argument goes to oracle.py (see its --help). Build ym_oracle first:
#   scripts/build --target ym_oracle
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${YM_BUILD_DIR:-$root/build}"
backend=sqlite
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --backend) backend="${args[$((i + 1))]:-sqlite}" ;;
    --backend=*) backend="${args[$i]#--backend=}" ;;
  esac
done
if [ "$backend" != sqlite ]; then
  # shellcheck source=../../scripts/lib/servers.sh
  source "$root/scripts/lib/servers.sh"
  YM_SERVERS="$backend" ym_servers_start >/dev/null || { echo "run.sh: no $backend server" >&2; exit 1; }
  trap 'ym_servers_stop; ym_servers_cleanup' EXIT
fi
set +e
/usr/bin/python3 "$root/tests/oracle/oracle.py" --oracle "$build/tests/oracle/ym_oracle" "${args[@]}"
status=$?
exit "$status"
