#!/bin/bash
# Readiness gate: waits until the etcd cluster reports healthy, or fails after a timeout with the reason.
#
# Run by `pulumi up` (the EtcdCluster component's readiness commands) and usable by hand. Settings come from
# the environment:
#   ETCD_GATE_MODE             ssm | direct
#   ETCD_GATE_TIMEOUT_SECONDS  give up after this long (default 900)
#   ETCD_GATE_INTERVAL_SECONDS pause between attempts (default 10)
#   ssm mode (private clusters; runs `etcdctl endpoint health --cluster` on the members via SSM Run Command):
#     ETCD_GATE_INSTANCE_IDS   space-separated instance ids
#     AWS_REGION               region of the instances
#     ETCD_GATE_ACCOUNT_ID     optional: the account the stack deploys to; the check stops at once when the AWS
#                              CLI's credentials belong to another account
#     ETCD_GATE_ROLE_ARN       optional: a role to assume first (the provider's aws:assumeRoles)
#     AWS_PROFILE              optional: the CLI profile (the provider's aws:profile)
#   direct mode (this machine reaches the client endpoints):
#     ETCD_GATE_ENDPOINTS      comma-separated https://IP:2379 URLs
#     ETCD_GATE_CA_PEM, ETCD_GATE_CERT_PEM, ETCD_GATE_KEY_PEM  the CA and client certificate and key (PEM text)
#   ETCD_GATE_MEMBER           optional: name shown in progress lines
#   ETCD_GATE_BACKUP           optional: 1 = once healthy, back up the cluster before the next member changes; the
#                              gate fails when that backup fails. In ssm mode the members' backup script runs on
#                              the instances (SSM Run Command) and uploads the leader's snapshot; in direct mode
#                              this machine takes the leader's snapshot and uploads it (etcdctl and the AWS CLI
#                              needed here), with:
#     ETCD_GATE_BACKUP_URL       s3://BUCKET/PREFIX/ where the cluster's snapshots go
#     ETCD_GATE_BACKUP_KMS_KEY_ARN  the cluster's KMS key (the bucket refuses objects without it)
#     ETCD_GATE_CLUSTER_ID, AWS_REGION  the metadata's cluster and the bucket's region
#   ETCD_GATE_BEFORE_CHANGE    optional: 1 = instead of the health wait, back up the running cluster before a
#                              change, retried until the timeout, when an instance tagged etcd:cluster=
#                              ETCD_GATE_CLUSTER_ID runs (none: no cluster yet, nothing to back up). ssm mode:
#                              through one of those instances (the next one if it fails); direct mode: from this
#                              machine, as above
#   membership (optional; both modes): the cluster's member list must hold these members, each started, a
#   voter and with these peer URLs:
#     ETCD_GATE_MEMBERS          comma-separated name=https://IP:2380
#     ETCD_GATE_MEMBERS_EXACT    true: any other member fails the gate (the final gate); false: others are
#                                ignored (a member's own step, which knows the members before it only)
#     ETCD_GATE_LEAVING          space-separated names that this update removes after the gate (scale-down):
#                                tolerated as extra members
set -euo pipefail

readonly mode=${ETCD_GATE_MODE:-direct}
readonly timeout=${ETCD_GATE_TIMEOUT_SECONDS:-900}
readonly interval=${ETCD_GATE_INTERVAL_SECONDS:-10}
readonly label=${ETCD_GATE_MEMBER:-cluster}
readonly expected_members=${ETCD_GATE_MEMBERS:-}
readonly exact_members=${ETCD_GATE_MEMBERS_EXACT:-false}
readonly leaving=" ${ETCD_GATE_LEAVING:-} "

log() { echo "etcd-health-gate[$label]: $*" >&2; }
die() { log "$*"; exit 1; }

# check_direct: every endpoint answers healthy over TLS with the client certificate. Sets $reason on failure.
check_direct() {
  local endpoint out ok=0 failed=()
  if command -v etcdctl >/dev/null; then
    out=$(ETCDCTL_API=3 etcdctl --endpoints="$ETCD_GATE_ENDPOINTS" --cacert="$tmp/ca.crt" --cert="$tmp/client.crt" \
      --key="$tmp/client.key" --command-timeout=5s endpoint health 2>&1) && ok=1
    reason=$(tr '\n' ' ' <<<"$out")
    (( ok == 1 )) || return 1
    [[ -n "$expected_members" ]] || return 0
    out=$(ETCDCTL_API=3 etcdctl --endpoints="$ETCD_GATE_ENDPOINTS" --cacert="$tmp/ca.crt" --cert="$tmp/client.crt" \
      --key="$tmp/client.key" --command-timeout=5s member list -w simple 2>&1) || { reason="member list failed: ${out//$'\n'/ }"; return 1; }
    check_membership "$out"
    return
  fi
  [[ -z "$expected_members" ]] || die "checking the membership (ETCD_GATE_MEMBERS) needs etcdctl on this machine"
  IFS=, read -r -a endpoints <<<"$ETCD_GATE_ENDPOINTS"
  for endpoint in "${endpoints[@]}"; do
    out=$(curl --silent --show-error --max-time 5 --cacert "$tmp/ca.crt" --cert "$tmp/client.crt" \
      --key "$tmp/client.key" "$endpoint/health" 2>&1) || true
    [[ "$out" == *'"health":"true"'* ]] || failed+=("$endpoint: ${out:-no answer}")
  done
  reason="${failed[*]:-}"
  (( ${#failed[@]} == 0 ))
}

# aws ARGS...: the AWS CLI with bounded network waits, so that no call outlives the overall timeout by much.
aws_cli() { aws --cli-connect-timeout 10 --cli-read-timeout 20 "$@"; }

# use_stack_credentials: the provider's role (if any) and a check that the CLI acts in the stack's account.
use_stack_credentials() {
  local creds account
  if [[ -n "${ETCD_GATE_ROLE_ARN:-}" ]]; then
    creds=$(aws_cli sts assume-role --region "$AWS_REGION" --role-arn "$ETCD_GATE_ROLE_ARN" --role-session-name etcd-readiness-gate \
      --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text 2>&1) ||
      die "could not assume $ETCD_GATE_ROLE_ARN: $creds"
    read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN <<<"$creds"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
    unset AWS_PROFILE
  fi
  if [[ -n "${ETCD_GATE_ACCOUNT_ID:-}" ]]; then
    account=$(aws_cli sts get-caller-identity --region "$AWS_REGION" --query Account --output text 2>&1) ||
      die "the AWS CLI has no usable credentials ($account); give it the stack's (AWS_PROFILE, or the AWS_* variables)"
    [[ "$account" == "$ETCD_GATE_ACCOUNT_ID" ]] ||
      die "the AWS CLI acts in account $account, but the stack deploys to $ETCD_GATE_ACCOUNT_ID: run pulumi with that account's credentials in the environment (AWS_PROFILE or AWS_*)$([[ "$mode" == ssm ]] && echo ', or set readiness.mode to "direct"')"
  fi
}

# check_ssm: `etcdctl endpoint health --cluster` on each instance through SSM Run Command, then the member list
# as the first healthy instance sees it.
check_ssm() {
  local list
  run_ssm "etcd readiness gate" '. /etc/profile.d/etcdctl.sh && etcdctl --command-timeout=5s endpoint health --cluster && echo ---member-list--- && etcdctl --command-timeout=5s member list -w simple' 60 || return 1
  list=$(sed -n '/^---member-list---$/,$p' <<<"$ssm_output" | tail -n +2)
  check_membership "$list"
}

# run_ssm COMMENT COMMAND SECONDS: COMMAND on each instance through SSM Run Command. The instances are polled
# together, for at most SECONDS and never past the overall deadline. Sets $reason on failure, and $ssm_output
# to the standard output of the first instance that succeeded.
run_ssm() {
  local command_id instance status output failed=() instances pending=() still limit
  ssm_output=""
  read -r -a instances <<<"$ETCD_GATE_INSTANCE_IDS"
  command_id=$(aws_cli ssm send-command --region "$AWS_REGION" --document-name AWS-RunShellScript \
    --instance-ids "${instances[@]}" --comment "$1" --parameters "commands=[\"$2\"]" \
    --query Command.CommandId --output text 2>&1) || { reason="send-command failed: $command_id"; return 1; }
  limit=$((SECONDS + $3 < deadline ? SECONDS + $3 : deadline))
  pending=("${instances[@]}")
  declare -A result=()
  while (( ${#pending[@]} > 0 )); do
    still=()
    for instance in "${pending[@]}"; do
      status=$(aws_cli ssm get-command-invocation --region "$AWS_REGION" --command-id "$command_id" \
        --instance-id "$instance" --query Status --output text 2>/dev/null) || status=Pending
      case "$status" in Pending | InProgress | Delayed) still+=("$instance") ;; *) result[$instance]=$status ;; esac
    done
    pending=("${still[@]}")
    (( ${#pending[@]} == 0 || SECONDS >= limit )) && break
    sleep 2
  done
  for instance in "${instances[@]}"; do
    status=${result[$instance]:-InProgress}
    if [[ "$status" != Success ]]; then
      output=$(aws_cli ssm get-command-invocation --region "$AWS_REGION" --command-id "$command_id" \
        --instance-id "$instance" --query StandardErrorContent --output text 2>/dev/null || true)
      failed+=("$instance: $status ${output//$'\n'/ }")
    elif [[ -z "$ssm_output" ]]; then
      ssm_output=$(aws_cli ssm get-command-invocation --region "$AWS_REGION" --command-id "$command_id" \
        --instance-id "$instance" --query StandardOutputContent --output text 2>/dev/null || true)
    fi
  done
  reason="${failed[*]:-}"
  (( ${#failed[@]} == 0 ))
}

# etcdctl_direct ARGS...: etcdctl with the client certificate, against the cluster's endpoints.
etcdctl_direct() {
  ETCDCTL_API=3 etcdctl --endpoints="$ETCD_GATE_ENDPOINTS" --cacert="$tmp/ca.crt" --cert="$tmp/client.crt" --key="$tmp/client.key" "$@"
}

# backup_direct: the leader's snapshot, taken from this machine over its client endpoint, checked (the hash
# that `snapshot save` appends, then etcdutl's or etcdctl's reading of it), compressed and uploaded with
# SSE-KMS and the metadata the members' backups carry. Sets $reason on failure.
backup_direct() {
  local status leader version file revision sum stamp key cluster_id
  command -v etcdctl >/dev/null || { reason="a backup from this machine needs etcdctl here"; return 1; }
  command -v aws >/dev/null || { reason="a backup from this machine needs the AWS CLI here"; return 1; }
  # Members that do not answer are left out of the output (and make etcdctl exit non-zero): the leader may answer.
  status=$(etcdctl_direct --command-timeout=10s endpoint status --cluster -w json 2>"$tmp/status.err") || true
  [[ "$status" == *'"Endpoint"'* ]] || { reason="no member answers: $(tr '\n' ' ' <"$tmp/status.err")"; return 1; }
  # One line per member (sed inserts the newlines), then the member whose id is its own leader's.
  # shellcheck disable=SC2001
  read -r leader version < <(sed 's/"Endpoint"/\n&/g' <<<"$status" |
    sed -n 's/^"Endpoint":"\([^"]*\)".*"member_id":\([0-9]*\),.*"version":"\([^"]*\)".*"leader":\([0-9]*\),.*/\1 \2 \4 \3/p' |
    awk '$2 == $3 { print $1, $4; exit }') || true
  [[ -n "$leader" ]] || { reason="the cluster has no leader"; return 1; }
  cluster_id=$(sed -n 's/.*"cluster_id":\([0-9]*\),.*/\1/p' <<<"${status%%\}*}")
  file="$tmp/snapshot.db"
  rm -f "$file" "$file.gz"
  status=$(ETCDCTL_API=3 etcdctl --endpoints="$leader" --cacert="$tmp/ca.crt" --cert="$tmp/client.crt" --key="$tmp/client.key" \
    --command-timeout=30m snapshot save "$file" 2>&1) || { reason="snapshot save from $leader failed: ${status//$'\n'/ }"; return 1; }
  sum=$(head -c $(($(stat -c %s "$file") - 32)) "$file" | sha256sum | cut -d' ' -f1)
  [[ "$(tail -c 32 "$file" | od -An -v -tx1 | tr -d ' \n')" == "$sum" ]] || { reason="the snapshot from $leader is damaged"; return 1; }
  if command -v etcdutl >/dev/null; then status=$(etcdutl snapshot status "$file" -w json 2>&1); else status=$(etcdctl snapshot status "$file" -w json 2>&1); fi ||
    { reason="the snapshot from $leader cannot be read: ${status//$'\n'/ }"; return 1; }
  revision=$(sed -n 's/.*"revision":\([0-9]*\).*/\1/p' <<<"$status")
  [[ -n "$revision" ]] || { reason="no revision in the snapshot's status: $status"; return 1; }
  gzip -c "$file" >"$file.gz"
  sum=$(sha256sum "$file.gz" | cut -d' ' -f1)
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  key="${ETCD_GATE_BACKUP_URL}frequent/$stamp-rev$revision.db.gz"
  status=$(aws_cli s3 cp "$file.gz" "$key" --region "$AWS_REGION" --only-show-errors --sse aws:kms --sse-kms-key-id "$ETCD_GATE_BACKUP_KMS_KEY_ARN" \
    --metadata "etcd-version=$version,revision=$revision,etcd-cluster-id=$cluster_id,cluster=$ETCD_GATE_CLUSTER_ID,member=deploy-host,taken-at=$stamp,size=$(stat -c %s "$file"),sha256=$sum" 2>&1) ||
    { reason="upload to $key failed: ${status//$'\n'/ }"; return 1; }
  log "saved revision $revision (from $leader) as $key"
}

# backup_before_change: the leader's snapshot before any member changes, when the cluster has a running
# member (found by its tag, whatever the mode): through a member in ssm mode, from here in direct mode. Exits.
backup_before_change() {
  local ids instance found=() failures
  ids=$(aws_cli ec2 describe-instances --region "$AWS_REGION" --filters "Name=tag:etcd:cluster,Values=$ETCD_GATE_CLUSTER_ID" \
    Name=instance-state-name,Values=running --query 'Reservations[].Instances[].InstanceId' --output text 2>&1) ||
    die "could not list the running members of cluster $ETCD_GATE_CLUSTER_ID: $ids"
  read -r -a found <<<"${ids//None/}"
  if (( ${#found[@]} == 0 )); then
    log "no running member of cluster $ETCD_GATE_CLUSTER_ID: nothing to back up"
    exit 0
  fi
  while true; do
    failures=()
    if [[ "$mode" == direct ]]; then
      backup_direct && { log "backed up before the change"; exit 0; }
      failures+=("$reason")
    else
      for instance in "${found[@]}"; do
        ETCD_GATE_INSTANCE_IDS=$instance
        if run_ssm "etcd backup before a change" "/usr/local/sbin/etcd-backup --from-leader" 1800; then
          log "backed up (through $instance) before the change"
          exit 0
        fi
        failures+=("$reason")
      done
    fi
    (( SECONDS < deadline )) ||
      die "the backup before the change failed $([[ "$mode" == ssm ]] && echo "on every running member" || echo "from this machine"), so nothing is changed: ${failures[*]}"
    log "attempt $attempt: the backup before the change failed (${failures[*]}); trying again"
    attempt=$((attempt + 1))
    sleep "$interval"
  done
}

# check_membership LIST: LIST is `etcdctl member list -w simple` output. Sets $reason to the difference.
check_membership() {
  local list=$1 want name peer id status got_name got_peer learner found problems=()
  local -A seen=()
  [[ -n "$expected_members" ]] || return 0
  IFS=, read -r -a want <<<"$expected_members"
  for entry in "${want[@]}"; do
    name=${entry%%=*}
    peer=${entry#*=}
    found=0
    while IFS=, read -r id status got_name got_peer _ learner; do
      [[ -n "$id" ]] || continue
      if [[ "$got_name" == "$name" || "$got_peer" == "$peer" ]]; then
        found=1
        seen[$id]=1
        if [[ "$status" != started ]]; then
          problems+=("$name: added but not started")
        elif [[ "$got_name" != "$name" || "$got_peer" != "$peer" ]]; then
          problems+=("$name: the cluster has $got_name at $got_peer, expected $name at $peer")
        elif [[ "$learner" == true ]]; then
          problems+=("$name: a learner, not promoted to voter")
        fi
      fi
    done < <(tr -d ' ' <<<"$list")
    ((found == 1)) || problems+=("$name ($peer): missing from the member list")
  done
  if [[ "$exact_members" == true ]]; then
    while IFS=, read -r id status got_name got_peer _ learner; do
      [[ -n "$id" && -z "${seen[$id]:-}" ]] || continue
      if [[ -n "$got_name" && "$leaving" == *" $got_name "* ]]; then
        log "member $got_name is leaving: this update removes it after the gate"
        continue
      fi
      problems+=("${got_name:-unnamed} ($got_peer, id $id, $status${learner:+, learner=$learner}): extra, not a member of the program")
    done < <(tr -d ' ' <<<"$list")
  fi
  if ((${#problems[@]} > 0)); then
    reason="membership differs from the program: $(printf '%s; ' "${problems[@]}")"
    return 1
  fi
}

case "$mode" in
  direct)
    : "${ETCD_GATE_ENDPOINTS:?ETCD_GATE_ENDPOINTS is required in direct mode}"
    : "${ETCD_GATE_CA_PEM:?ETCD_GATE_CA_PEM is required in direct mode}"
    : "${ETCD_GATE_CERT_PEM:?ETCD_GATE_CERT_PEM is required in direct mode}"
    : "${ETCD_GATE_KEY_PEM:?ETCD_GATE_KEY_PEM is required in direct mode}"
    command -v etcdctl >/dev/null || command -v curl >/dev/null || die "direct mode needs etcdctl or curl on this machine"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (umask 077 && printf '%s\n' "$ETCD_GATE_CA_PEM" >"$tmp/ca.crt" && printf '%s\n' "$ETCD_GATE_CERT_PEM" >"$tmp/client.crt" &&
      printf '%s\n' "$ETCD_GATE_KEY_PEM" >"$tmp/client.key")
    check=check_direct
    ;;
  ssm)
    [[ "${ETCD_GATE_BEFORE_CHANGE:-}" == 1 ]] || : "${ETCD_GATE_INSTANCE_IDS:?ETCD_GATE_INSTANCE_IDS is required in ssm mode}"
    : "${AWS_REGION:?AWS_REGION is required in ssm mode}"
    command -v aws >/dev/null || die "ssm mode needs the AWS CLI on this machine (or set readiness.mode to \"direct\")"
    use_stack_credentials
    check=check_ssm
    ;;
  *) die "ETCD_GATE_MODE must be ssm or direct, got \"$mode\"" ;;
esac

reason=""
start=$SECONDS
deadline=$((start + timeout))
attempt=1
if [[ "$mode" == direct && ( "${ETCD_GATE_BACKUP:-}" == 1 || "${ETCD_GATE_BEFORE_CHANGE:-}" == 1 ) ]]; then
  : "${ETCD_GATE_BACKUP_URL:?ETCD_GATE_BACKUP_URL is required for a backup in direct mode}"
  : "${ETCD_GATE_BACKUP_KMS_KEY_ARN:?ETCD_GATE_BACKUP_KMS_KEY_ARN is required for a backup in direct mode}"
  : "${AWS_REGION:?AWS_REGION is required for a backup in direct mode}"
  use_stack_credentials
fi
if [[ "${ETCD_GATE_BEFORE_CHANGE:-}" == 1 ]]; then
  : "${ETCD_GATE_CLUSTER_ID:?ETCD_GATE_CLUSTER_ID is required with ETCD_GATE_BEFORE_CHANGE}"
  : "${AWS_REGION:?AWS_REGION is required with ETCD_GATE_BEFORE_CHANGE}"
  command -v aws >/dev/null || die "the backup before a change needs the AWS CLI on this machine"
  backup_before_change
fi
while true; do
  if "$check"; then
    log "healthy after $((SECONDS - start))s"
    if [[ "${ETCD_GATE_BACKUP:-}" == 1 ]]; then
      # Before the next member changes, whatever its user-data or instance type: a fresh backup of the leader.
      deadline=$((SECONDS + timeout))
      if [[ "$mode" == ssm ]]; then
        run_ssm "etcd backup before a change" "/usr/local/sbin/etcd-backup --from-leader" 1800
      else
        backup_direct
      fi || die "the backup before the next change failed, so nothing more is changed: $reason"
      log "backed up before the next change"
    fi
    exit 0
  fi
  elapsed=$((SECONDS - start))
  if (( elapsed >= timeout )); then
    die "not healthy after ${timeout}s: $reason"
  fi
  log "attempt $attempt: not healthy yet (${elapsed}s of ${timeout}s): $reason"
  attempt=$((attempt + 1))
  sleep "$(( interval < timeout - elapsed ? interval : timeout - elapsed ))"
done
