import { memberPaths } from "./paths";

/** A private key the member fetches from SSM Parameter Store at boot. */
export interface SsmKeyParameter {
    /** Parameter name, e.g. "/etcd/prod-3f2a9c/prod-0/server.key". */
    name: string;
    /** Where the key is written, e.g. /etc/etcd/pki/server.key. */
    path: string;
}

export interface BootScriptParams {
    memberName: string;
    version: string;
    releaseUrl: string;
    releaseSha256: string;
    /** EBS volume id of the data volume, e.g. "vol-0abc". */
    dataVolumeId: string;
    /** Keys to fetch from SSM (empty when the keys arrive inline in user-data). */
    ssmKeys: SsmKeyParameter[];
    /** Region of the SSM parameters. */
    region: string;
    /** Seconds to wait for the data volume to appear. */
    volumeWaitSeconds?: number;
    /** Further units started (without blocking) once etcd has been started. */
    unitsAfterEtcd?: string[];
    /**
     * How the member joins the cluster (see membership.ts): its settings, and where the membership functions
     * come from: a file written by user-data, or an SSM parameter checked against its SHA-256.
     */
    membership?: { settings: string; libraryParameter?: { name: string; sha256: string } };
}

/** The member's membership settings, and the fetch of the membership functions when they come from SSM. */
function membershipBlock(m: NonNullable<BootScriptParams["membership"]>): string {
    const fetch = m.libraryParameter
        ? `
# The membership functions come from the cluster's SSM parameter; the SHA-256 here says which text.
fetch_membership_library() {
  local value actual
  value=$(retry 8 aws ssm get-parameter --region "$AWS_REGION" --with-decryption --name ${shellQuote(m.libraryParameter.name)} \\
    --query Parameter.Value --output text) || fail "could not read SSM parameter ${m.libraryParameter.name}"
  actual=$(printf '%s\\n' "$value" | sha256sum | cut -d' ' -f1)
  [[ "$actual" == ${shellQuote(m.libraryParameter.sha256)} ]] || fail "membership functions: expected SHA-256 ${m.libraryParameter.sha256}, got $actual"
  mkdir -p "$(dirname "$MEMBERSHIP_LIB")"
  printf '%s\\n' "$value" >"$MEMBERSHIP_LIB"
}
`
        : "";
    return `readonly MEMBERSHIP_LIB=${memberPaths.membershipLibrary}
${m.settings}${fetch}`;
}

/** Quotes a value for bash: single quotes, with embedded single quotes closed and escaped. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Renders the member's boot script (bash). It is safe to run again: it never formats a volume that holds a
 * filesystem, never touches an existing data dir, and only starts etcd with --no-block so that boot does
 * not wait for the other members. On a checksum mismatch it stops before installing anything.
 */
export function renderBootScript(p: BootScriptParams): string {
    const keyFetches = p.ssmKeys.map((k) => `fetch_ssm_key ${shellQuote(k.name)} ${shellQuote(k.path)}`).join("\n");
    return `#!/bin/bash
# Bootstraps etcd member ${p.memberName}; rendered by the EtcdCluster component. Safe to run again.
set -euo pipefail
umask 022

readonly MEMBER_NAME=${shellQuote(p.memberName)}
readonly ETCD_VERSION=${shellQuote(p.version)}
readonly RELEASE_URL=${shellQuote(p.releaseUrl)}
readonly RELEASE_SHA256=${shellQuote(p.releaseSha256)}
readonly DATA_VOLUME_ID=${shellQuote(p.dataVolumeId)}
readonly AWS_REGION=${shellQuote(p.region)}
readonly VOLUME_WAIT_SECONDS=${p.volumeWaitSeconds ?? 600}
readonly DATA_DIR=${memberPaths.dataDir}
readonly BIN_DIR=${memberPaths.binDir}
readonly PKI_DIR=${memberPaths.pkiDir}

log() { echo "etcd-bootstrap[\${MEMBER_NAME}]: $*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

# retry ATTEMPTS COMMAND...: exponential backoff from 2 s, capped at 30 s.
retry() {
  local attempts=$1 delay=2 n=1
  shift
  until "$@"; do
    if (( n >= attempts )); then
      return 1
    fi
    log "attempt $n of $attempts failed: $1; retrying in \${delay}s"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
  done
}

ensure_user() {
  if ! getent passwd etcd >/dev/null; then
    log "creating system user etcd"
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell /sbin/nologin etcd
  fi
}

install_release() {
  # The whole output is captured: under pipefail, a reader that stops early (grep -q) fails at random.
  local installed=""
  if [[ -x "$BIN_DIR/etcd" ]]; then
    installed=$("$BIN_DIR/etcd" --version 2>/dev/null || true)
  fi
  if [[ "\${installed%%$'\\n'*}" == "etcd Version: $ETCD_VERSION" ]]; then
    log "etcd $ETCD_VERSION already installed"
    return
  fi
  local work actual
  work=$(mktemp -d)
  log "downloading etcd $ETCD_VERSION from $RELEASE_URL"
  retry 6 curl --fail --silent --show-error --location --output "$work/etcd.tar.gz" "$RELEASE_URL" ||
    fail "could not download $RELEASE_URL"
  actual=$(sha256sum "$work/etcd.tar.gz" | cut -d' ' -f1)
  if [[ "$actual" != "$RELEASE_SHA256" ]]; then
    rm -rf "$work"
    fail "checksum mismatch for $RELEASE_URL: expected $RELEASE_SHA256, got $actual; refusing to install etcd"
  fi
  tar -xzf "$work/etcd.tar.gz" -C "$work" --strip-components=1 --no-same-owner
  for binary in etcd etcdctl etcdutl; do
    if [[ -f "$work/$binary" ]]; then
      install -m 0755 -o root -g root "$work/$binary" "$BIN_DIR/$binary"
    elif [[ "$binary" != etcdutl ]]; then
      fail "the release tarball has no $binary"
    fi
  done
  rm -rf "$work"
  installed=$("$BIN_DIR/etcd" --version || true)
  log "installed \${installed%%$'\\n'*}"
}

# fetch_ssm_key NAME PATH: a SecureString parameter, decrypted with the member's own KMS grant.
fetch_ssm_key() {
  local name=$1 path=$2 value
  value=$(retry 8 aws ssm get-parameter --region "$AWS_REGION" --with-decryption --name "$name" \\
    --query Parameter.Value --output text) || fail "could not read SSM parameter $name"
  install -m 0600 -o etcd -g etcd /dev/null "$path"
  printf '%s\\n' "$value" >"$path"
}

secure_pki() {
  chown -R root:etcd "$PKI_DIR"
  chmod 0750 "$PKI_DIR"
  local key
  for key in "$PKI_DIR"/*.key; do
    [[ -e "$key" ]] || continue
    chown etcd:etcd "$key"
    chmod 0600 "$key"
  done
}

# Nitro instances expose EBS volumes as NVMe devices named after the volume id without its dash.
data_device() {
  local by_id="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${DATA_VOLUME_ID//-/}" waited=0
  until [[ -e "$by_id" ]]; do
    if (( waited >= VOLUME_WAIT_SECONDS )); then
      fail "data volume $DATA_VOLUME_ID did not appear at $by_id within \${VOLUME_WAIT_SECONDS}s"
    fi
    (( waited % 30 == 0 )) && log "waiting for data volume $DATA_VOLUME_ID"
    sleep 2
    waited=$((waited + 2))
  done
  readlink -f "$by_id"
}

prepare_data_volume() {
  local device fs_type uuid rc=0
  device=$(data_device)
  fs_type=$(blkid -p -o value -s TYPE "$device") || rc=$?
  if (( rc == 2 )) && [[ -z "$fs_type" ]]; then
    log "formatting empty data volume $DATA_VOLUME_ID ($device) as ext4"
    mkfs.ext4 -q -L etcd-data "$device"
  elif (( rc != 0 )); then
    fail "could not probe $device (blkid exit $rc); not formatting it"
  else
    log "data volume $DATA_VOLUME_ID already holds a $fs_type filesystem; keeping it"
  fi
  uuid=$(blkid -p -o value -s UUID "$device")
  [[ -n "$uuid" ]] || fail "data volume $device has no filesystem UUID"
  mkdir -p "$DATA_DIR"
  if ! grep -q "^UUID=$uuid " /etc/fstab; then
    echo "UUID=$uuid $DATA_DIR ext4 defaults,noatime,nofail 0 2" >>/etc/fstab
  fi
  mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
  chown etcd:etcd "$DATA_DIR"
  chmod 0700 "$DATA_DIR"
}

start_etcd() {
  systemctl daemon-reload
  systemctl enable etcd.service
  # --no-block: etcd notifies systemd only after joining a quorum, which needs the other members.
  systemctl start --no-block etcd.service
${(p.unitsAfterEtcd ?? []).map((u) => `  systemctl enable ${shellQuote(u)}\n  systemctl start --no-block ${shellQuote(u)}\n`).join("")}  log "etcd started; it reports ready once a quorum of members is up"
}

${p.membership ? membershipBlock(p.membership) : ""}
main() {
${
    p.membership
        ? `  if [[ "\${1:-}" == promote ]]; then
    # shellcheck source=/dev/null
    . "$MEMBERSHIP_LIB"
    promote
    return
  fi
`
        : ""
}  ensure_user
  install_release
${keyFetches
    .split("\n")
    .filter((l) => l)
    .map((l) => `  ${l}`)
    .join("\n")}
  secure_pki
  prepare_data_volume
${p.membership ? `${p.membership.libraryParameter ? "  fetch_membership_library\n" : ""}  # shellcheck source=/dev/null\n  . "$MEMBERSHIP_LIB"\n  join_cluster\n` : ""}  start_etcd
${
    p.membership
        ? `  if [[ -f "$PROMOTE_ENV" ]]; then
    setsid ${memberPaths.bootScript} promote </dev/null >>/var/log/etcd-promote.log 2>&1 &
  fi
`
        : ""
}}

main "$@"
`;
}
