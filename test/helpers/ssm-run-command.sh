#!/bin/bash
# Stand-in for SSM Run Command, for the readiness gate run against a local cluster: Run Command needs the SSM
# agent on each instance, which a local member does not run (moto records a command but runs nothing).
# `aws ssm send-command` runs the command at once inside each named member (its container's namespaces) and
# `aws ssm get-command-invocation` reports its status or standard error, as the gate script asks for them.
# `aws ec2 describe-instances` lists, for the filters the gate uses (the etcd:cluster tag, state running), the
# instances whose clusters/<instance id> names that cluster and whose PID 1 is alive.
# LOCAL_RUN_COMMAND_DIR holds instances/<instance id> (the host pid of that member's PID 1) and the results.
set -euo pipefail

dir=${LOCAL_RUN_COMMAND_DIR:?}
die() { echo "aws (Run Command stand-in): $*" >&2; exit 255; }

args=()
while (($#)); do
  case "$1" in
    --cli-connect-timeout | --cli-read-timeout | --region | --output | --document-name) shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]}"
if [[ "${1:-} ${2:-}" == "ec2 describe-instances" ]]; then
  shift 2
  cluster="" state=""
  while (($#)); do
    case "$1" in
      --filters)
        shift
        while (($#)) && [[ "$1" != --* ]]; do
          case "$1" in
            Name=tag:etcd:cluster,Values=*) cluster=${1#*Values=} ;;
            Name=instance-state-name,Values=*) state=${1#*Values=} ;;
            *) die "unsupported filter $1" ;;
          esac
          shift
        done
        ;;
      --query) [[ "$2" == 'Reservations[].Instances[].InstanceId' ]] || die "unsupported query $2"; shift 2 ;;
      *) die "unsupported option $1" ;;
    esac
  done
  [[ -n "$cluster" && "$state" == running ]] || die "expected the cluster tag and state filters"
  found=()
  for f in "$dir"/clusters/*; do
    [[ -f "$f" && "$(cat "$f")" == "$cluster" ]] || continue
    instance=${f##*/}
    kill -0 "$(cat "$dir/instances/$instance")" 2>/dev/null && found+=("$instance")
  done
  (IFS=$'\t'; echo "${found[*]}")
  exit 0
fi
[[ "${1:-}" == ssm ]] || die "only ssm is available, got: $*"
action=$2
shift 2
instances=() command_id="" instance="" query="" parameters=""
while (($#)); do
  case "$1" in
    --instance-ids)
      shift
      while (($#)) && [[ "$1" != --* ]]; do instances+=("$1"); shift; done
      ;;
    --instance-id) instance=$2; shift 2 ;;
    --command-id) command_id=$2; shift 2 ;;
    --parameters) parameters=$2; shift 2 ;;
    --query) query=$2; shift 2 ;;
    --comment) shift 2 ;;
    *) die "unsupported option $1" ;;
  esac
done

case "$action" in
  send-command)
    [[ "$parameters" == 'commands=["'*'"]' ]] || die "expected --parameters 'commands=[\"...\"]', got $parameters"
    command=${parameters#'commands=["'}
    command=${command%'"]'}
    command=${command//\\\"/\"}
    command_id=$(date +%s%N)
    mkdir -p "$dir/$command_id"
    for instance in "${instances[@]}"; do
      [[ -f "$dir/instances/$instance" ]] || die "no instance $instance"
      status=Success
      nsenter --target="$(cat "$dir/instances/$instance")" --mount --uts --ipc --net --pid -- /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -c "$command" \
        >"$dir/$command_id/$instance.out" 2>"$dir/$command_id/$instance.err" || status=Failed
      echo "$status" >"$dir/$command_id/$instance.status"
    done
    echo "$command_id"
    ;;
  get-command-invocation)
    case "$query" in
      Status) cat "$dir/$command_id/$instance.status" ;;
      StandardErrorContent) cat "$dir/$command_id/$instance.err" ;;
      *) die "unsupported query $query" ;;
    esac
    ;;
  *) die "unsupported action $action" ;;
esac
