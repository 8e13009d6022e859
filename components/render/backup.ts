import { shellQuote } from "./bootScript";
import { memberPaths } from "./paths";

/** Where a member keeps its backup and restore tools. */
export const backupPaths = {
    backupScript: "/usr/local/sbin/etcd-backup",
    restoreScript: "/usr/local/sbin/etcd-restore",
    serviceName: "etcd-backup.service",
    timerName: "etcd-backup.timer",
    service: "/etc/systemd/system/etcd-backup.service",
    timer: "/etc/systemd/system/etcd-backup.timer",
} as const;

/** CloudWatch metric that holds the age of the newest backup, in seconds, per cluster. */
export const backupMetric = { namespace: "EtcdCluster/Backup", name: "NewestBackupAgeSeconds", dimension: "ClusterId" } as const;

/** The tool that reads and restores snapshot files: etcdutl from 3.5 on (3.6 has no etcdctl snapshot restore), etcdctl on 3.4. */
export type SnapshotTool = "etcdutl" | "etcdctl";

/** Where the backups of one cluster go. */
export interface BackupTarget {
    bucket: string;
    /** Key prefix of this cluster's objects, ending in "/", e.g. "etcd-backups/prod-1a2b3c4d/". */
    prefix: string;
    /** KMS key every object is encrypted with (SSE-KMS). */
    kmsKeyArn: string;
    region: string;
}

export interface BackupScriptParams extends BackupTarget {
    /** The component's cluster id: the metric dimension and part of the object metadata. */
    clusterId: string;
    version: string;
    snapshotTool: SnapshotTool;
}

export interface RestoreScriptParams {
    /** s3://bucket/key of the snapshot object. */
    bucket: string;
    key: string;
    region: string;
    snapshotTool: SnapshotTool;
    /** `--bump-revision 1000000000 --mark-compacted`: 3.4.27+, 3.5.10+, 3.6. */
    bumpRevision: boolean;
}

/** Revisions added on restore, so that Kubernetes watchers see a compaction and resynchronize. */
export const restoreRevisionBump = 1_000_000_000;

const safe = (what: string, value: string, pattern: RegExp) => {
    if (!pattern.test(value)) {
        throw new Error(`${what} ${JSON.stringify(value)} is not safe in a backup script`);
    }
    return shellQuote(value);
};

/**
 * check_snapshot FILE: the SHA-256 that `snapshot save` appends must match the data before it (what restore
 * checks; `snapshot status` reads only live pages and misses a flipped byte elsewhere), then the snapshot
 * tool must read it. Sets STATUS to the tool's JSON (hash, revision, totalKey, totalSize).
 */
const checkSnapshotFunction = (tool: SnapshotTool) => `check_snapshot() {
  local f=$1 size want got
  size=$(stat -c %s "$f")
  (( size > 32 )) || { log "snapshot $f is empty"; return 1; }
  want=$(tail -c 32 "$f" | od -An -v -tx1 | tr -d ' \\n')
  got=$(head -c $((size - 32)) "$f" | sha256sum | cut -d' ' -f1)
  [[ "$want" == "$got" ]] || { log "snapshot $f is damaged: its hash says $want, its content hashes to $got"; return 1; }
  STATUS=$(${tool} snapshot status "$f" -w json) || { log "${tool} cannot read snapshot $f"; return 1; }
}
json_number() { local v=\${2#*\\""$1"\\":}; echo "\${v%%[,\\}]*}"; }`;

/**
 * Renders the backup script run by the timer on every member. It exits unless its member is the leader, so
 * one backup is taken per interval wherever leadership is; it saves a snapshot from the local member,
 * verifies it, compresses it, and uploads it with SSE-KMS and its metadata. The first backup of each UTC day
 * goes under daily/ (kept longer by the bucket's lifecycle rules), the others under frequent/. Object names
 * start with the UTC time, so they sort by time, and carry the revision. Whatever happens, the leader then
 * publishes the age of the newest backup to CloudWatch.
 */
export function renderBackupScript(p: BackupScriptParams): string {
    return `#!/bin/bash
# Backs up etcd to S3 when this member leads; rendered by the EtcdCluster component.
set -euo pipefail
umask 077
# shellcheck source=/dev/null
. ${memberPaths.etcdctlProfile}
# shellcheck source=/dev/null
. ${memberPaths.environmentFile}
readonly CLUSTER=${safe("cluster id", p.clusterId, /^[a-z0-9-]+$/)} MEMBER=$ETCD_NAME
readonly VERSION=${safe("version", p.version, /^\d+\.\d+\.\d+$/)} REGION=${safe("region", p.region, /^[a-z0-9-]+$/)}
readonly BUCKET=${safe("bucket", p.bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)} PREFIX=${safe("prefix", p.prefix, /^([A-Za-z0-9._-]+\/)+$/)}
readonly KMS_KEY=${safe("KMS key", p.kmsKeyArn, /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-zA-Z-]+$/)}
log() { echo "etcd-backup[$MEMBER]: $*" >&2; }
${checkSnapshotFunction(p.snapshotTool)}
field() { sed -n "s/^\\"$1\\" : \\"\\{0,1\\}\\([^\\"]*\\)\\"\\{0,1\\}$/\\1/p" <<<"$status"; }

status=$(etcdctl --command-timeout=10s endpoint status -w fields)
source_endpoint=$ETCDCTL_ENDPOINTS
if [[ "$(field MemberID)" != "$(field Leader)" ]]; then
  # --from-leader (the rolling gate's backup before a change, run on any member): the leader's snapshot.
  [[ "\${1:-}" == --from-leader ]] || { log "not the leader; nothing to do"; exit 0; }
  source_endpoint=$(etcdctl --command-timeout=10s endpoint status --cluster -w json | sed 's/"Endpoint"/\\n&/g' |
    sed -n "s/^\\"Endpoint\\":\\"\\([^\\"]*\\)\\".*\\"member_id\\":$(field Leader),.*/\\1/p" | head -n 1)
  [[ -n "$source_endpoint" ]] || { log "no leader found"; exit 1; }
fi

# The age of the newest backup under this cluster's prefix (names start with their UTC time).
publish_age() {
  local newest t age
  newest=$(aws s3api list-objects-v2 --region "$REGION" --bucket "$BUCKET" --prefix "$PREFIX" \\
    --query 'Contents[].Key' --output text | tr '\\t' '\\n' | sed -n 's|.*/\\([0-9]\\{8\\}T[0-9]\\{6\\}Z\\)-rev.*|\\1|p' | sort | tail -n 1) || return 0
  [[ -n "$newest" ]] || { log "no backup exists yet under s3://$BUCKET/$PREFIX"; return 0; }
  t=$(date -u -d "\${newest:0:8} \${newest:9:2}:\${newest:11:2}:\${newest:13:2}" +%s)
  age=$(( $(date -u +%s) - t ))
  aws cloudwatch put-metric-data --region "$REGION" --namespace ${backupMetric.namespace} --metric-name ${backupMetric.name} \\
    --dimensions "${backupMetric.dimension}=$CLUSTER" --unit Seconds --value "$age" || log "could not publish the backup age"
}
work=$(mktemp -d ${memberPaths.dataDir}/.backup.XXXXXX)
trap 'rm -rf "$work"; publish_age' EXIT

stamp=$(date -u +%Y%m%dT%H%M%SZ)
# (etcdctl refuses an --endpoints flag next to the profile's ETCDCTL_ENDPOINTS.)
ETCDCTL_ENDPOINTS=$source_endpoint etcdctl --command-timeout=30m snapshot save "$work/snapshot.db" >/dev/null
check_snapshot "$work/snapshot.db" || exit 1
revision=$(json_number revision "$STATUS")
gzip -c "$work/snapshot.db" >"$work/snapshot.db.gz"
sum=$(sha256sum "$work/snapshot.db.gz" | cut -d' ' -f1)
class=frequent
if [[ "$(aws s3api list-objects-v2 --region "$REGION" --bucket "$BUCKET" --prefix "\${PREFIX}daily/\${stamp:0:8}" \\
  --max-items 1 --query 'Contents[0].Key' --output text)" == None ]]; then
  class=daily
fi
key="$PREFIX$class/$stamp-rev$revision.db.gz"
aws s3 cp "$work/snapshot.db.gz" "s3://$BUCKET/$key" --region "$REGION" --only-show-errors --sse aws:kms --sse-kms-key-id "$KMS_KEY" \\
  --metadata "etcd-version=$VERSION,revision=$revision,etcd-cluster-id=$(field ClusterID),cluster=$CLUSTER,member=$MEMBER,taken-at=$stamp,size=$(stat -c %s "$work/snapshot.db"),sha256=$sum"
log "saved revision $revision (from $source_endpoint) as s3://$BUCKET/$key ($(stat -c %s "$work/snapshot.db.gz") bytes, sha256 $sum)"
`;
}

/** The backup service (oneshot, as the etcd user, idle I/O priority) and its timer, every `intervalMinutes`. */
export function renderBackupUnits(intervalMinutes: number): { service: string; timer: string } {
    return {
        service: `[Unit]
Description=etcd backup to S3 (the leader only)
# Skipped, not failed, while etcd is not running (the timer starts before etcd on a new member).
Requisite=etcd.service
After=etcd.service
ConditionPathExists=${memberPaths.dataDir}/member

[Service]
Type=oneshot
User=etcd
Group=etcd
ExecStart=${backupPaths.backupScript}
Nice=10
IOSchedulingClass=idle
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${memberPaths.dataDir}
ProtectHome=yes
PrivateTmp=yes
`,
        timer: `[Unit]
Description=etcd backup every ${intervalMinutes} minutes

[Timer]
OnCalendar=${onCalendar(intervalMinutes)}
AccuracySec=1s

[Install]
WantedBy=timers.target
`,
    };
}

/** Backup intervals that divide an hour or a day evenly: every member's timer fires at the same wall-clock times. */
export const backupIntervalsMinutes = [5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440] as const;

export function onCalendar(intervalMinutes: number): string {
    if (!(backupIntervalsMinutes as readonly number[]).includes(intervalMinutes)) {
        throw new Error(`backup interval ${intervalMinutes} minutes: expected one of ${backupIntervalsMinutes.join(", ")}`);
    }
    if (intervalMinutes < 60) {
        return `*-*-* *:00/${intervalMinutes}:00`;
    }
    // systemd refuses a repetition as long as the hour's whole range ("00/24"), and with it the timer: once a day is a time.
    return intervalMinutes === 1440 ? "*-*-* 00:00:00" : `*-*-* 00/${intervalMinutes / 60}:00:00`;
}

/** A file the tools installer writes. */
export interface ToolFile {
    path: string;
    content: string;
    mode: string;
}

const heredocEnd = "ETCD_MEMBER_TOOLS_EOF";

/**
 * Renders the installer of a member's backup and restore tools. It is too large for user-data (EC2's
 * 16 KB), so the component stores it as an S3 object whose SHA-256 the user-data pins; as plain text, its
 * changes show in a preview like user-data's.
 */
export function renderToolsInstaller(files: ToolFile[], startUnits: string[] = []): string {
    const parts = [...files]
        .sort((a, b) => a.path.localeCompare(b.path))
        .map((f) => {
            if (!/^\/[A-Za-z0-9._/-]+$/.test(f.path) || !/^0[0-7]{3}$/.test(f.mode) || f.content.split("\n").includes(heredocEnd)) {
                throw new Error(`tool file ${JSON.stringify(f.path)} cannot be written safely by the installer`);
            }
            return `install -D -m ${f.mode} /dev/stdin ${f.path} <<'${heredocEnd}'\n${f.content.endsWith("\n") ? f.content : `${f.content}\n`}${heredocEnd}\n`;
        });
    // Units are started here rather than from user-data, which has no bytes to spare. The backup service skips
    // its runs until etcd has a data dir, so the timer may start before etcd does.
    const starts = startUnits.map((u) => {
        if (!/^[a-z0-9-]+\.(timer|service)$/.test(u)) throw new Error(`unit ${JSON.stringify(u)} cannot be started safely by the installer`);
        return `systemctl enable --now --no-block ${u}\n`;
    });
    return `#!/bin/bash\n# Installs an etcd member's backup and restore tools; rendered by the EtcdCluster component.\nset -euo pipefail\n${parts.join("")}${
        starts.length > 0 ? `systemctl daemon-reload\n${starts.join("")}` : ""
    }`;
}

/** Everything a member needs for backups (and, with \`restore\`, for its first boot), as files. */
export function memberToolFiles(p: { backup?: BackupScriptParams & { intervalMinutes: number }; restore?: RestoreScriptParams }): ToolFile[] {
    const files: ToolFile[] = [];
    if (p.backup) {
        const units = renderBackupUnits(p.backup.intervalMinutes);
        files.push(
            { path: backupPaths.backupScript, content: renderBackupScript(p.backup), mode: "0755" },
            { path: backupPaths.service, content: units.service, mode: "0644" },
            { path: backupPaths.timer, content: units.timer, mode: "0644" },
        );
    }
    if (p.restore) {
        files.push({ path: backupPaths.restoreScript, content: renderRestoreScript(p.restore), mode: "0700" });
    }
    return files;
}

/**
 * Renders the restore step the boot script runs before etcd is first started. With a member already in
 * the data dir it does nothing. Otherwise it downloads the snapshot, checks its SHA-256 against the
 * object's metadata and the snapshot's own hash, and restores it with this member's name, peer URL, the
 * initial member list and cluster token from the etcd environment file. Any failure exits non-zero: the
 * boot script stops and etcd is never started.
 */
export function renderRestoreScript(p: RestoreScriptParams): string {
    return `#!/bin/bash
# Restores this member from an S3 snapshot before etcd first starts; rendered by the EtcdCluster component.
set -euo pipefail
umask 077
readonly BUCKET=${safe("bucket", p.bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)} KEY=${safe("key", p.key, /^[A-Za-z0-9!_.*'()/-]+$/)}
readonly REGION=${safe("region", p.region, /^[a-z0-9-]+$/)} DATA_DIR=${memberPaths.dataDir}
log() { echo "etcd-restore: $*" >&2; }
fail() { log "ERROR: $*; etcd is not started"; exit 1; }
${checkSnapshotFunction(p.snapshotTool)}

if [[ -e "$DATA_DIR/member" ]]; then
  log "$DATA_DIR already holds a member; never restoring over it"
  exit 0
fi
# shellcheck source=/dev/null
. ${memberPaths.environmentFile}
# How the member starts (membership.ts): the founding member restores; a member joining the restored cluster
# as a learner gets its data from the cluster.
# shellcheck source=/dev/null
[[ ! -f ${memberPaths.bootstrapEnvironmentFile} ]] || . ${memberPaths.bootstrapEnvironmentFile}
if [[ "\${ETCD_INITIAL_CLUSTER_STATE:-new}" == existing ]]; then
  log "joining a running cluster: its data comes from the cluster, not from the snapshot"
  exit 0
fi
work="$DATA_DIR/.restore"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
log "downloading s3://$BUCKET/$KEY"
for attempt in 1 2 3 4 5 6; do
  want=$(aws s3api get-object --region "$REGION" --bucket "$BUCKET" --key "$KEY" --query Metadata.sha256 --output text \\
    "$work/snapshot.db.gz") && break
  (( attempt < 6 )) || fail "could not download s3://$BUCKET/$KEY"
  sleep $((attempt * 5))
done
[[ "$want" =~ ^[0-9a-f]{64}$ ]] || fail "s3://$BUCKET/$KEY has no sha256 metadata"
got=$(sha256sum "$work/snapshot.db.gz" | cut -d' ' -f1)
[[ "$got" == "$want" ]] || fail "s3://$BUCKET/$KEY hashes to $got, its metadata says $want"
gzip -dc "$work/snapshot.db.gz" >"$work/snapshot.db" || fail "s3://$BUCKET/$KEY is not a gzip file"
check_snapshot "$work/snapshot.db" || fail "s3://$BUCKET/$KEY holds a damaged snapshot"
${p.snapshotTool} snapshot restore "$work/snapshot.db" --data-dir "$work/data" --name "$ETCD_NAME" \\
  --initial-cluster "$ETCD_INITIAL_CLUSTER" --initial-cluster-token "$ETCD_INITIAL_CLUSTER_TOKEN" \\
  --initial-advertise-peer-urls "$ETCD_INITIAL_ADVERTISE_PEER_URLS"${p.bumpRevision ? ` --bump-revision ${restoreRevisionBump} --mark-compacted` : ""} || fail "restore failed"
chown -R etcd:etcd "$work/data/member"
mv "$work/data/member" "$DATA_DIR/member"
log "restored revision $(json_number revision "$STATUS")${p.bumpRevision ? ` (+${restoreRevisionBump})` : ""} from s3://$BUCKET/$KEY as $ETCD_NAME"
`;
}
