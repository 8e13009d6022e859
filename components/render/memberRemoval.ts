// The delete script of a member's membership step: removes the member from the cluster before its instance
// is destroyed (scale-down), safely and idempotently. Pure renderers of plain values.

/**
 * The removal itself. It runs where etcdctl reaches the cluster with ETCDCTL_ENDPOINTS, ETCDCTL_CACERT,
 * ETCDCTL_CERT and ETCDCTL_KEY set: on the deploying machine (direct mode) or on the leaving member (ssm
 * mode). It refuses while any other voter is unhealthy or another member is joining, moves leadership away
 * first when the member leads, and does nothing when the member is not in the cluster (any more).
 */
export function renderMemberRemovalScript(): string {
    return `#!/bin/bash
# Removes an etcd member from its cluster; rendered by the EtcdCluster component. Safe to run again.
#   ETCD_REMOVE_MEMBER        the member's name
#   ETCD_REMOVE_PEER_URL      its peer URL (the member is found by either)
#   ETCD_REMOVE_TIMEOUT_SECONDS  how long to wait for the rest of the cluster to be healthy (default 900)
#   ETCD_REMOVE_AFTER         space- or comma-separated names of members that must have left first (higher indexes)
#   ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY  how to reach the cluster
set -euo pipefail
readonly name=\${ETCD_REMOVE_MEMBER:?ETCD_REMOVE_MEMBER is required}
readonly peer=\${ETCD_REMOVE_PEER_URL:?ETCD_REMOVE_PEER_URL is required}
readonly timeout=\${ETCD_REMOVE_TIMEOUT_SECONDS:-900}
after=\${ETCD_REMOVE_AFTER:-}
readonly after=" \${after//,/ } "
export ETCDCTL_API=3
# etcdctl refuses a flag that shadows its environment variable: the endpoints are passed as flags only.
readonly cluster_endpoints=\${ETCDCTL_ENDPOINTS:?ETCDCTL_ENDPOINTS is required}
unset ETCDCTL_ENDPOINTS
log() { echo "etcd-member-remove[$name]: $*" >&2; }
# ctl ENDPOINTS ARGS...
ctl() {
  local at=$1
  shift
  etcdctl --endpoints="$at" --dial-timeout=3s --command-timeout=15s "$@"
}

# inspect: sets target_id, target_client, others (client URLs of the other voters), other_ids and reason.
inspect() {
  local list id status got_name got_peer client learner
  target_id="" target_client="" others=() other_ids=() reason=""
  list=$(ctl "$cluster_endpoints" member list -w simple 2>&1) || { reason="member list failed: \${list//$'\\n'/ }"; return 1; }
  while IFS=, read -r id status got_name got_peer client learner; do
    [[ -n "$id" ]] || continue
    if [[ "$got_name" == "$name" || "$got_peer" == "$peer" ]]; then
      target_id=$id
      target_client=$client
    elif [[ -n "$got_name" && "$after" == *" $got_name "* ]]; then
      reason="member $got_name leaves first (highest index first)"
    elif [[ "$status" != started || "$learner" == true ]]; then
      reason="member \${got_name:-$got_peer} is joining (status $status, learner $learner): one change at a time"
    else
      others+=("$client")
      other_ids+=("$id")
    fi
  done < <(tr -d ' ' <<<"$list")
  [[ -z "$reason" ]]
}

others_healthy() {
  local url
  for url in "\${others[@]}"; do
    if ! ctl "$url" endpoint health >/dev/null 2>&1; then
      reason="the remaining voter at $url is not healthy"
      return 1
    fi
  done
}

start=$SECONDS
while true; do
  if inspect; then
    if [[ -z "$target_id" ]]; then
      log "not a member of the cluster: nothing to remove"
      exit 0
    fi
    if ((\${#others[@]} == 0)); then
      # The whole cluster is being deleted (pulumi destroy): there is nothing to remove this member from.
      log "the last member of the cluster: nothing to remove it from"
      exit 0
    fi
    if others_healthy; then
      break
    fi
  fi
  if ((SECONDS - start >= timeout)); then
    log "refusing to remove member $name: $reason (after \${timeout}s)."
    log "Bring the other members back to health, then run the update again; or remove it by hand: etcdctl member remove \${target_id:-<id>}"
    exit 1
  fi
  log "waiting before removing $name: $reason"
  sleep 5
done

# Leadership moves to a healthy voter first, so that the removal costs no election.
status=$(ctl "$target_client" endpoint status -w simple 2>/dev/null | tr -d ' ' || true)
if [[ "$(cut -d, -f5 <<<"$status")" == true ]]; then
  log "$name leads the cluster: moving leadership to \${other_ids[0]} first"
  ctl "$target_client" move-leader "\${other_ids[0]}" >/dev/null || log "move-leader failed; the removal costs one election"
fi
remaining=$(IFS=,; echo "\${others[*]}")
# etcd refuses while it does not count enough members as active yet (strict reconfiguration): retry.
until out=$(ctl "$remaining" member remove "$target_id" 2>&1); do
  if ((SECONDS - start >= timeout)); then
    log "member remove $target_id failed: \${out//$'\n'/ }"
    exit 1
  fi
  log "member remove not accepted yet: \${out//$'\n'/ }"
  sleep 2
done
log "removed member $name ($target_id); \${#others[@]} voter(s) remain"
for _ in $(seq 1 30); do
  if ctl "$remaining" endpoint health >/dev/null 2>&1; then
    log "the remaining members are healthy"
    exit 0
  fi
  sleep 2
done
log "the remaining members did not report healthy within 60s after the removal"
exit 1
`;
}

/** Direct mode: the deploying machine reaches the members; certificates come from the environment (secret). */
export function renderDirectRemoveStep(): string {
    return `set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(umask 077 && printf '%s\\n' "$ETCD_GATE_CA_PEM" >"$tmp/ca.crt" && printf '%s\\n' "$ETCD_GATE_CERT_PEM" >"$tmp/client.crt" &&
  printf '%s\\n' "$ETCD_GATE_KEY_PEM" >"$tmp/client.key")
command -v etcdctl >/dev/null || { echo "removing an etcd member needs etcdctl on this machine" >&2; exit 1; }
export ETCDCTL_ENDPOINTS=$ETCD_GATE_ENDPOINTS ETCDCTL_CACERT=$tmp/ca.crt ETCDCTL_CERT=$tmp/client.crt ETCDCTL_KEY=$tmp/client.key
bash --norc -c ${shellWord(renderMemberRemovalScript())}
`;
}

/**
 * SSM mode: the removal runs on the leaving member itself through SSM Run Command (its etcdctl profile and
 * certificate), which still exists when this step runs: the step depends on the instance, so Pulumi deletes
 * the step first.
 */
export function renderSsmRemoveStep(): string {
    const script = Buffer.from(renderMemberRemovalScript()).toString("base64");
    return `set -euo pipefail
: "\${ETCD_GATE_INSTANCE_IDS:?}" "\${AWS_REGION:?}"
instance=\${ETCD_GATE_INSTANCE_IDS%% *}
after=\${ETCD_REMOVE_AFTER:-}
remote="export ETCD_REMOVE_MEMBER=$ETCD_REMOVE_MEMBER ETCD_REMOVE_PEER_URL=$ETCD_REMOVE_PEER_URL ETCD_REMOVE_AFTER=\${after// /,} ETCD_REMOVE_TIMEOUT_SECONDS=\${ETCD_REMOVE_TIMEOUT_SECONDS:-900}; . /etc/profile.d/etcdctl.sh; echo ${script} | base64 -d | bash"
params=$(printf '{"commands":["%s"],"executionTimeout":["3600"]}' "$remote")
command_id=$(aws ssm send-command --region "$AWS_REGION" --document-name AWS-RunShellScript --instance-ids "$instance" \\
  --comment "etcd member removal: $ETCD_REMOVE_MEMBER" --parameters "$params" --query Command.CommandId --output text)
while true; do
  status=$(aws ssm get-command-invocation --region "$AWS_REGION" --command-id "$command_id" --instance-id "$instance" --query Status --output text 2>/dev/null || echo Pending)
  case "$status" in Pending | InProgress | Delayed) sleep 5 ;; *) break ;; esac
done
aws ssm get-command-invocation --region "$AWS_REGION" --command-id "$command_id" --instance-id "$instance" --query StandardErrorContent --output text >&2 || true
if [[ "$status" != Success ]]; then
  echo "removing etcd member $ETCD_REMOVE_MEMBER on $instance: $status. If the instance is gone, remove the member by hand from another member: etcdctl member remove <id>" >&2
  exit 1
fi
`;
}

/** A whole script as one single-quoted shell word. */
function shellWord(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}
