// How a member finds its place in the cluster at first start, without its user-data listing the membership:
// a member's user-data names only the members with a lower index (which a size change never alters), and
// the membership itself comes from the running cluster. Pure renderers of plain values.
import { shellQuote, withoutComments } from "./bootScript";
import { MemberEndpoint, peerUrl } from "./etcdConfig";
import { memberPaths, ports } from "./paths";

/** Written by the boot script: the two bootstrap settings etcd reads when its data dir is empty. */
export const bootstrapEnvironmentFile = memberPaths.bootstrapEnvironmentFile;
/** Written by the boot script after joining as a learner: whom to ask for the promotion. */
export const promoteEnvironmentFile = "/etc/etcd/promote.env";

/** The most members a cluster may have (validation's limit); auth users exist for every possible name. */
export const maxMembers = 9;

/** etcd member name of member `index` of a cluster whose safe name is `base`. */
export const memberName = (base: string, index: number) => `${base}-${index}`;

/** Every name a member of the cluster can have, whatever its size: auth users exist before members do. */
export const allMemberNames = (base: string) => Array.from({ length: maxMembers }, (_, i) => memberName(base, i));

export interface JoinParams {
    /** This member. */
    member: MemberEndpoint;
    /**
     * Members with a lower index: where a new member looks for the running cluster. A size change adds or
     * removes the highest indexes only, so this list, and with it the member's user-data, never changes.
     */
    seeds: MemberEndpoint[];
    /** May found a new one-member cluster when no running cluster answers (member 0 only). */
    mayFound: boolean;
    /** SSM parameter (String) with every member's client URL, comma-separated: more places to look. */
    discoveryParameter?: string;
    /** Seconds a member waits for a running cluster to join (a new cluster's first member may still be booting). */
    joinWaitSeconds?: number;
}

const checkUrl = (url: string) => {
    if (!/^https:\/\/[0-9a-fA-F.:[\]]+:\d+$/.test(url)) {
        throw new Error(`member URL ${JSON.stringify(url)} is not an https://address:port URL`);
    }
    return url;
};

/** Where the boot script finds the membership functions on the member. */
export const membershipLibraryPath = memberPaths.membershipLibrary;

/** The member's own settings for the membership functions: bash assignments placed in the boot script. */
export function renderMembershipSettings(p: JoinParams): string {
    const ip = (m: MemberEndpoint) => {
        checkUrl(peerUrl(m.ip));
        return shellQuote(m.ip);
    };
    // Addresses only (the functions make the URLs): user-data is limited to 16 KB.
    return `# shellcheck disable=SC2034
readonly SELF_IP=${ip(p.member)} SEEDS=(${p.seeds.map(ip).join(" ")}) MAY_FOUND=${p.mayFound ? 1 : 0} DISCOVERY=${shellQuote(p.discoveryParameter ?? "")}${
        p.joinWaitSeconds === undefined ? "" : ` JOIN_WAIT=${p.joinWaitSeconds}`
    }
`;
}

/**
 * The membership functions, the same for every member and cluster: a file of the tools object with backups,
 * a per-cluster SSM parameter with SSM key delivery, a file in user-data otherwise (hence terse). Sourced by the boot script, which defines
 * MEMBER_NAME, BIN_DIR, PKI_DIR, DATA_DIR, AWS_REGION, log, fail and retry, and the settings above.
 * `join_cluster` decides how etcd starts when its data dir is empty and writes bootstrap.env:
 * - the data dir holds a member: nothing to decide, etcd rejoins with its data (as before);
 * - a running cluster answers through a lower member (or the discovery parameter): once no other member is
 *   joining and every other member is a healthy voter, this member removes its own stale entry if it has
 *   one (a lost data volume, or a join interrupted before etcd started), adds itself as a learner and starts
 *   with state "existing"; `promote` then makes it a voter once it has caught up;
 * - no running cluster answers: member 0 founds a one-member cluster; any other member keeps waiting.
 * The member uses its own server certificate, which allows client authentication, for these calls.
 */
export function renderMembershipLibrary(): string {
    // Comments stay in this template only: the text must fit an SSM Standard parameter (4 KB) and user-data.
    return withoutComments(`# shellcheck shell=bash disable=SC2154 # sourced by the boot script, which defines the settings
# etcd membership functions (join_cluster, promote); rendered by the EtcdCluster component.
readonly BOOT_ENV=${bootstrapEnvironmentFile} PROMOTE_ENV=${promoteEnvironmentFile}
readonly SELF_PEER="https://$SELF_IP:${ports.peer}" SELF_CLIENT="https://$SELF_IP:${ports.client}" WAIT=\${JOIN_WAIT:-1800}
ctl() {
  ETCDCTL_API=3 "$BIN_DIR/etcdctl" --cacert="$PKI_DIR/ca.crt" --cert="$PKI_DIR/server.crt" --key="$PKI_DIR/server.key" --dial-timeout=3s --command-timeout=15s "$@"
}
# open_port URL: something listens there (etcdctl would retry a refused connection until its timeout).
open_port() {
  local hp=\${1#https://}
  timeout 3 bash -c "exec 3<>/dev/tcp/\${hp%:*}/\${hp##*:}" 2>/dev/null
}
urls() {
  local ip
  for ip in "\${SEEDS[@]}"; do echo "https://$ip:${ports.client}"; done
  [[ -z "$DISCOVERY" ]] || retry 4 aws ssm get-parameter --region "$AWS_REGION" --name "$DISCOVERY" --query Parameter.Value --output text | tr , '\\n'
}
boot_env() {
  install -m 0644 /dev/null "$BOOT_ENV"
  printf 'ETCD_INITIAL_CLUSTER_STATE=%s\\nETCD_INITIAL_CLUSTER=%s\\n' "$1" "$2" >"$BOOT_ENV"
}
# cluster_list: sets $list to the running cluster's member list as the first member that answers sees it,
# and $url to that member (the caller declares both); returns 1 when none answers, 2 when the discovery
# parameter could not be read (then nobody may found a cluster: one may be running).
cluster_list() {
  local all
  list=""
  all=$(urls) || return 2
  while read -r -u 4 url; do
    [[ "$url" != "$SELF_CLIENT" ]] && open_port "$url" && list=$(ctl --endpoints="$url" member list -w simple 2>/dev/null | tr -d ' ') && [[ -n "$list" ]] && return
  done 4< <(awk 'NF && !s[$0]++' <<<"$all")
  list=""
  return 1
}
# keep_or_set_aside: data from before a removal (scale-down, then added again under this name) would make
# etcd exit as "permanently removed": when the running cluster does not list this member, the data moves
# aside (never deleted) and the member joins anew.
keep_or_set_aside() {
  local list url aside
  cluster_list || return 0
  awk -F, -v p="$SELF_PEER" '$4 == p {f = 1} END {exit !f}' <<<"$list" && return 0
  aside="$DATA_DIR/removed-$(date +%Y%m%dT%H%M%S)"
  log "the running cluster does not list this member: its data is stale; moving it to $aside and joining anew"
  mkdir -p "$aside"
  mv "$DATA_DIR/member" "$aside/"
}
join_cluster() {
  [[ -d "$DATA_DIR/member" ]] && keep_or_set_aside
  [[ -d "$DATA_DIR/member" ]] && return
  local n url list id st name peer cl ln self voters why out rc
  rm -f "$PROMOTE_ENV"
  for ((n = 1; ; n++)); do
    why="" rc=0
    cluster_list || rc=$?
    if ((rc == 2)); then
      why="could not read $DISCOVERY"
    elif [[ -z "$list" ]]; then
      if ((MAY_FOUND && n >= 3)); then
        log "no running cluster answers: founding one"
        boot_env new "$MEMBER_NAME=$SELF_PEER"
        return
      fi
      why="no running cluster answers"
    else
      self="" voters=""
      while IFS=, read -r id st name peer cl ln; do
        if [[ "$peer" == "$SELF_PEER" ]]; then
          self=$id
        elif [[ "$st" != started || "$ln" == true ]]; then
          why="\${name:-$peer} is joining"
        elif ctl --endpoints="$cl" endpoint health &>/dev/null; then
          voters+=\${voters:+,}$cl
        else
          why="$name ($cl) is not healthy"
        fi
      done <<<"$list"
      if [[ -z "$why" && -n "$self" ]]; then
        log "in the cluster as $self with an empty data dir: removing that entry to join again"
        out=$(ctl --endpoints="$url" member remove "$self" 2>&1) || why="member remove: $out"
      fi
      if [[ -z "$why" ]] && out=$(ctl --endpoints="$url" member add "$MEMBER_NAME" --peer-urls="$SELF_PEER" --learner 2>&1); then
        log "added as a learner"
        boot_env existing "$(sed -n 's/^ETCD_INITIAL_CLUSTER="\\(.*\\)"$/\\1/p' <<<"$out")"
        install -m 0600 /dev/null "$PROMOTE_ENV"
        echo "$voters" >"$PROMOTE_ENV"
        return
      fi
      why=\${why:-member add: $out}
    fi
    ((SECONDS < WAIT)) || fail "could not join the cluster: $why"
    log "waiting to join: $why"
    sleep 3
  done
}
# promote_later: a learner promotes itself in the background once etcd has started (the boot script's
# "promote" runs promote).
promote_later() {
  [[ ! -f "$PROMOTE_ENV" ]] || setsid ${memberPaths.bootScript} promote </dev/null >>/var/log/etcd-promote.log 2>&1 &
}
# promote: retries until etcd finds the learner in sync with the leader, then it is a voter.
promote() {
  local e l
  e=$(cat "$PROMOTE_ENV" 2>/dev/null) || return 0
  while sleep 1; do
    l=$(ctl --endpoints="$e" member list -w simple 2>/dev/null | tr -d ' ' | awk -F, -v p="$SELF_PEER" '$4 == p')
    [[ -n "$l" ]] || continue
    [[ "\${l##*,}" == true ]] || break
    ctl --endpoints="$e" member promote "\${l%%,*}" &>/dev/null && break
  done
  rm -f "$PROMOTE_ENV"
  log "a voter"
}
`);
}
