#!/bin/bash
# Stand-in for systemctl on a local member, where systemd is not PID 1. It honours what the rendered units
# rely on: ExecStart, EnvironmentFile, User, Group, UMask, LimitNOFILE, Restart=always with RestartSec, and
# Type=oneshot. The sandboxing directives (ProtectSystem and the like) are not applied here.
# State (pids, stop requests) lives in /run/local-systemd, which the host sees as the member's state dir.
set -euo pipefail

readonly state=/run/local-systemd
readonly units=/etc/systemd/system

die() { echo "systemctl (local stand-in): $*" >&2; exit 1; }

# unit_value UNIT KEY: the last value of KEY in the unit file.
unit_value() {
  sed -n "s/^$2=//p" "$units/$1" | tail -n 1
}

unit_name() {
  local unit=$1
  [[ "$unit" == *.* ]] || unit=$unit.service
  [[ "$unit" =~ ^[A-Za-z0-9@._-]+$ ]] || die "bad unit name $unit"
  [[ -f "$units/$unit" ]] || die "Unit $unit not found."
  echo "$unit"
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# run_once UNIT: the unit's ExecStart as its User, with its EnvironmentFile, in the foreground.
run_once() {
  local unit=$1 exec_start user group umask_value nofile env_file line
  exec_start=$(unit_value "$unit" ExecStart)
  exec_start=${exec_start#[-@+!]}
  user=$(unit_value "$unit" User)
  group=$(unit_value "$unit" Group)
  umask_value=$(unit_value "$unit" UMask)
  nofile=$(unit_value "$unit" LimitNOFILE)
  local environment=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
  # Every EnvironmentFile line, in order (later values win); a leading "-" makes a missing file fine.
  while IFS= read -r env_file; do
    [[ -n "$env_file" ]] || continue
    local optional=0
    [[ "$env_file" == -* ]] && optional=1 && env_file=${env_file#-}
    if [[ ! -f "$env_file" ]]; then
      ((optional == 1)) && continue
      echo "EnvironmentFile $env_file is missing" >&2
      exit 1
    fi
    while IFS= read -r line || [[ -n "$line" ]]; do
      [[ -z "$line" || "$line" == \#* ]] && continue
      environment+=("$line")
    done <"$env_file"
  done <<<"$(sed -n 's/^EnvironmentFile=//p' "$units/$unit")"
  local command
  read -r -a command <<<"$exec_start"
  # A container may cap the hard limit below the unit's; then the cap applies, as it would under systemd.
  if [[ -n "$nofile" ]] && ! ulimit -n "$nofile" 2>/dev/null; then
    echo "LimitNOFILE=$nofile is above this host's hard limit; using $(ulimit -Hn)" >&2
    ulimit -n "$(ulimit -Hn)"
  fi
  [[ -n "$umask_value" ]] && umask "$umask_value"
  if [[ -n "$user" ]]; then
    exec setpriv --reuid="$user" --regid="${group:-$user}" --init-groups --inh-caps=-all --bounding-set=-all \
      --no-new-privs env -i "${environment[@]}" "${command[@]}"
  fi
  exec env -i "${environment[@]}" "${command[@]}"
}

# supervise UNIT: restarts the unit's process as Restart= asks, holding off while a stop is requested.
supervise() {
  local unit=$1 type restart delay rc
  type=$(unit_value "$unit" Type)
  restart=$(unit_value "$unit" Restart)
  delay=$(unit_value "$unit" RestartSec)
  delay=${delay%s}
  while true; do
    if [[ -e "$state/$unit.stopped" ]]; then
      sleep 0.2
      continue
    fi
    rc=0
    (run_once "$unit") &
    echo $! >"$state/$unit.pid"
    wait $! || rc=$?
    echo "$(date -u +%FT%TZ) $unit exited with status $rc" >&2
    [[ "$type" == oneshot ]] && { echo "$rc" >"$state/$unit.result"; exit 0; }
    case "$restart" in
      always) ;;
      on-failure) ((rc != 0)) || exit 0 ;;
      *) exit 0 ;;
    esac
    sleep "${delay:-0.1}"
  done
}

start_unit() {
  local unit=$1
  rm -f "$state/$unit.stopped"
  alive "$state/$unit.supervisor.pid" && return 0
  setsid "$0" __supervise "$unit" >>"/var/log/$unit.log" 2>&1 </dev/null &
  echo $! >"$state/$unit.supervisor.pid"
}

stop_unit() {
  local unit=$1
  touch "$state/$unit.stopped"
  if alive "$state/$unit.pid"; then
    kill -TERM "$(cat "$state/$unit.pid")" 2>/dev/null || true
  fi
}

verb="" no_block=0 args=()
for arg in "$@"; do
  case "$arg" in
    --no-block) no_block=1 ;;
    -q | --quiet | --now) ;;
    -*) die "unsupported option $arg" ;;
    *) if [[ -z "$verb" ]]; then verb=$arg; else args+=("$arg"); fi ;;
  esac
done
# Starting never blocks here; --no-block is accepted because the boot script passes it.
: "$no_block"

case "$verb" in
  daemon-reload) ;;
  enable) for u in "${args[@]}"; do touch "$state/$(unit_name "$u").enabled"; done ;;
  start) for u in "${args[@]}"; do start_unit "$(unit_name "$u")"; done ;;
  stop) for u in "${args[@]}"; do stop_unit "$(unit_name "$u")"; done ;;
  restart) for u in "${args[@]}"; do u=$(unit_name "$u"); stop_unit "$u"; sleep 0.5; start_unit "$u"; done ;;
  is-active)
    u=$(unit_name "${args[0]}")
    if alive "$state/$u.pid" && [[ ! -e "$state/$u.stopped" ]]; then echo active; else echo inactive; exit 3; fi
    ;;
  __supervise) supervise "${args[0]}" ;;
  *) die "unsupported verb '$verb'" ;;
esac
