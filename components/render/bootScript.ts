import { basename } from "path";
import { memberPaths } from "./paths";

/** A private key or certificate the member fetches from SSM Parameter Store at boot, into the PKI directory. */
export interface SsmFile {
    /** File name in /etc/etcd/pki and last part of the parameter name, e.g. "server.key". */
    file: string;
    /**
     * SHA-256 of the value (certificates): the boot stops on any other value, and a renewed certificate
     * changes user-data, which is what replaces the instance.
     */
    sha256?: string;
}

/** Packages (Amazon Linux 2023 names) that provide the commands the boot script runs. */
export const bootToolPackages: Record<string, string> = {
    tar: "tar",
    sha256sum: "coreutils",
    "mkfs.ext4": "e2fsprogs",
    e2fsck: "e2fsprogs",
    resize2fs: "e2fsprogs",
    dumpe2fs: "e2fsprogs",
    blkid: "util-linux",
    blockdev: "util-linux",
    findmnt: "util-linux",
    mountpoint: "util-linux",
};

/** The oneshot unit and timer that grow the data filesystem after the volume was enlarged in place. */
export const growUnitName = "etcd-growfs.service";
export const growTimerName = "etcd-growfs.timer";

export interface BootScriptParams {
    memberName: string;
    version: string;
    releaseUrl: string;
    releaseSha256: string;
    /** EBS volume id of the data volume, e.g. "vol-0abc". */
    dataVolumeId: string;
    /** The member's parameter path, e.g. "/etcd/prod-3f2a9c/prod-0" (SSM delivery only). */
    ssmParameterPrefix?: string;
    /** Keys and certificates fetched from "<prefix>/<file>" (empty when they arrive inline in user-data). */
    ssmFiles: SsmFile[];
    /** Region of the SSM parameters. */
    region: string;
    /** Seconds to wait for the data volume to appear. */
    volumeWaitSeconds?: number;
    /** Further units started (without blocking) once etcd has been started. */
    unitsAfterEtcd?: string[];
    /** Further timers of the member's own (constant names), enabled and started with the filesystem's. */
    timers?: string[];
    /** An installer of further tools (backup, restore) in S3, run once its SHA-256 matches. */
    tools?: { url: string; sha256: string };
    /** Commands run once the data volume is mounted, before etcd is started; a failure stops the boot. */
    commandsBeforeEtcd?: string[];
    /**
     * How the member joins the cluster (see membership.ts): its settings (bash assignments) and where the
     * membership functions are on the member: written by user-data or by the tools installer, or fetched
     * from the cluster's SSM parameter (SSM key delivery; checked against its SHA-256 like a certificate).
     * Always given by the member's user-data; a script without it starts etcd on whatever the data dir holds.
     */
    membership?: { settings: string; libraryPath: string; libraryParameter?: { name: string; sha256: string }; discovery: boolean };
}

/** The file name of the membership functions when the boot script fetches them into the PKI directory. */
export const fetchedMembershipLibrary = "membership.sh";

/**
 * Drops whole-line comments but the first line's and shellcheck directives: they explain the template in
 * this file, and on the member they would only spend EC2's 16 KB of user-data.
 */
export function withoutComments(script: string): string {
    const [first, ...rest] = script.split("\n");
    return [first, ...rest.filter((line) => !/^\s*#(?!\s*shellcheck )/.test(line))].join("\n");
}

/** Quotes a value for bash: single quotes, with embedded single quotes closed and escaped. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

// Only with SSM delivery: inline keys and certificates need no fetch.
const ssmFetchFunction = `# fetch_ssm FILE [SHA256 [NAME]]: the member's own parameter $SSM_PREFIX/FILE (or NAME) into $PKI_DIR/FILE (keys decrypted
# with its own KMS grant, written 0600 for etcd); a certificate must match the SHA-256 that user-data names
# and is written 0644, like the certificates that cloud-init writes with inline delivery.
fetch_ssm() {
  local name=\${3:-$SSM_PREFIX/$1} path=$PKI_DIR/$1 sum=\${2:-} value
  value=$(retry 8 aws ssm get-parameter --region "$AWS_REGION" --with-decryption --name "$name" \\
    --query Parameter.Value --output text) || fail "could not read SSM parameter $name"
  if [[ -n "$sum" && "$(printf '%s\\n' "$value" | sha256sum | cut -d' ' -f1)" != "$sum" ]]; then
    fail "SSM parameter $name does not hold the expected value (sha256 $sum)"
  fi
  mkdir -p "$PKI_DIR"
  if [[ -n "$sum" ]]; then
    install -m 0644 -o root -g root /dev/null "$path"
  else
    install -m 0600 -o etcd -g etcd /dev/null "$path"
  fi
  printf '%s\\n' "$value" >"$path"
}

`;

/**
 * Renders the member's boot script (bash). It is safe to run again: it never formats a volume that holds a
 * filesystem, never touches an existing data dir, and only starts etcd with --no-block so that boot does
 * not wait for the other members. On a checksum mismatch it stops before installing anything.
 */
export function renderBootScript(p: BootScriptParams): string {
    if (p.ssmFiles.length > 0 && !p.ssmParameterPrefix) {
        throw new Error("SSM delivery needs the member's parameter prefix");
    }
    if (p.tools && (!/^s3:\/\/[a-z0-9.-]+\/[A-Za-z0-9._/-]+$/.test(p.tools.url) || !/^[0-9a-f]{64}$/.test(p.tools.sha256))) {
        throw new Error(`tools ${JSON.stringify(p.tools)}: expected an s3:// URL of safe characters and a SHA-256`);
    }
    for (const f of p.ssmFiles) {
        if (!/^[a-z]+\.(crt|key)$/.test(f.file)) {
            throw new Error(`SSM file name ${JSON.stringify(f.file)} is not a plain certificate or key name`);
        }
    }
    const library = p.membership?.libraryParameter;
    if (library && (p.ssmFiles.length === 0 || p.membership?.libraryPath !== `${memberPaths.pkiDir}/${fetchedMembershipLibrary}`)) {
        throw new Error(`the membership functions are fetched from SSM with the keys, into ${memberPaths.pkiDir}/${fetchedMembershipLibrary}`);
    }
    const keyFetches = [
        ...p.ssmFiles.map((f) => `fetch_ssm ${f.file}${f.sha256 ? ` ${shellQuote(f.sha256)}` : ""}`),
        ...(library ? [`fetch_ssm ${fetchedMembershipLibrary} ${shellQuote(library.sha256)} ${shellQuote(library.name)}`] : []),
    ].join("\n");
    const tools = Object.entries(bootToolPackages).map(([command, pkg]) => `${command}:${pkg}`);
    if (p.ssmFiles.length > 0 || p.tools || p.membership?.discovery) {
        tools.push("aws:awscli-2");
    }
    return withoutComments(`#!/bin/bash
# Bootstraps etcd member ${p.memberName}; rendered by the EtcdCluster component. Safe to run again.
set -euo pipefail
umask 022

readonly MEMBER_NAME=${shellQuote(p.memberName)}
readonly ETCD_VERSION=${shellQuote(p.version)}
readonly RELEASE_URL=${shellQuote(p.releaseUrl)}
readonly RELEASE_SHA256=${shellQuote(p.releaseSha256)}
readonly DATA_VOLUME_ID=${shellQuote(p.dataVolumeId)}
${p.ssmFiles.length > 0 || p.tools ? `readonly AWS_REGION=${shellQuote(p.region)}\n` : p.membership?.discovery ? `# shellcheck disable=SC2034\nreadonly AWS_REGION=${shellQuote(p.region)}\n` : ""}${p.ssmFiles.length > 0 ? `readonly SSM_PREFIX=${shellQuote(p.ssmParameterPrefix!)}\n` : ""}readonly VOLUME_WAIT_SECONDS=${p.volumeWaitSeconds ?? 600}
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

# Installs the packages of missing commands (a minimal image may lack them) rather than failing later.
ensure_tools() {
  local entry missing=()
  for entry in ${tools.join(" ")}; do
    command -v "\${entry%%:*}" >/dev/null || [[ " \${missing[*]} " == *" \${entry#*:} "* ]] || missing+=("\${entry#*:}")
  done
  (( \${#missing[@]} == 0 )) && return
  command -v dnf >/dev/null || fail "missing packages \${missing[*]} and no dnf to install them"
  log "installing \${missing[*]}"
  retry 4 dnf install -y -q "\${missing[@]}" || fail "could not install \${missing[*]}"
}

${p.ssmFiles.length > 0 ? ssmFetchFunction : ""}secure_pki() {
  chown -R root:etcd "$PKI_DIR"
  chmod 0750 "$PKI_DIR"
  local key
  for key in "$PKI_DIR"/*.key; do
    [[ -e "$key" ]] || continue
    chown etcd:etcd "$key"
    chmod 0600 "$key"
  done
}

# Nitro instances expose EBS volumes as NVMe devices named after the volume id without its dash; Xen
# instances (t2, m4, c4, r4...) show the volume attached as /dev/sdf as /dev/xvdf.
data_device() {
  local by_id="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${DATA_VOLUME_ID//-/}" waited=0 candidate
  while true; do
    for candidate in "$by_id" /dev/xvdf /dev/sdf; do
      if [[ -b "$(readlink -f "$candidate")" ]]; then
        echo "$candidate"
        return
      fi
    done
    if (( waited >= VOLUME_WAIT_SECONDS )); then
      fail "data volume $DATA_VOLUME_ID did not appear at $by_id or /dev/xvdf within \${VOLUME_WAIT_SECONDS}s"
    fi
    (( waited % 30 == 0 )) && log "waiting for data volume $DATA_VOLUME_ID"
    sleep 2
    waited=$((waited + 2))
  done
}

# grow_data_fs [DEVICE]: grows the data filesystem to its volume (a no-op when they match). Without a
# device, the filesystem mounted at the data dir grows online (ext4 allows it); with one, the unmounted
# filesystem is checked and grown before the boot mounts it.
grow_data_fs() {
  local device=\${1:-} volume_bytes fs_bytes n b
  if [[ -z "$device" ]]; then
    mountpoint -q "$DATA_DIR" || return 0
    device=$(findmnt -n -o SOURCE --target "$DATA_DIR")
  fi
  volume_bytes=$(blockdev --getsize64 "$device")
  # Blocks and block size, multiplied by bash: mawk (Debian's awk) prints products over 2^31 as 7.7e+09.
  read -r n b < <(dumpe2fs -h "$device" 2>/dev/null | awk -F: '/^Block count/ {c=$2} /^Block size/ {s=$2} END {print c, s}')
  fs_bytes=$((\${n:-0} * \${b:-0}))
  (( volume_bytes - fs_bytes >= 16 * 1024 * 1024 )) || return 0
  log "growing the data filesystem on $device from $fs_bytes to $volume_bytes bytes"
  if [[ -n "\${1:-}" ]]; then
    # resize2fs wants a freshly checked filesystem when it is not mounted; -p repairs only what is safe.
    e2fsck -f -p "$device" >&2 || (( $? < 4 )) || fail "e2fsck found errors on $device; not growing it"
  fi
  resize2fs "$device" >&2
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
  mountpoint -q "$DATA_DIR" || grow_data_fs "$device"
  mkdir -p "$DATA_DIR"
  # The mount unit from user-data (the Nitro path) mounts it now and on every later boot; on a Xen
  # instance a drop-in names the device the volume appeared as.
  if [[ "$device" != /dev/disk/by-id/* ]]; then
    mkdir -p ${memberPaths.dataMountUnit}.d
    printf '[Mount]\nWhat=%s\n' "$device" >${memberPaths.dataMountUnit}.d/device.conf
  fi
  systemctl daemon-reload
  systemctl enable ${basename(memberPaths.dataMountUnit)}
  mountpoint -q "$DATA_DIR" || systemctl start ${basename(memberPaths.dataMountUnit)}
  chown etcd:etcd "$DATA_DIR"
  chmod 0700 "$DATA_DIR"
}

${
    p.tools
        ? `# The tools installer (backup, restore) is pinned by its SHA-256: nothing else is run.
readonly TOOLS_URL=${shellQuote(p.tools.url)} TOOLS_SHA256=${shellQuote(p.tools.sha256)}
install_tools() {
  retry 6 aws s3 cp --region "$AWS_REGION" --only-show-errors "$TOOLS_URL" /run/etcd-tools || fail "could not download $TOOLS_URL"
  sha256sum -c --status <<<"$TOOLS_SHA256  /run/etcd-tools" || fail "$TOOLS_URL: SHA-256 mismatch"
  bash /run/etcd-tools
}

`
        : ""
}start_etcd() {
  systemctl daemon-reload
  systemctl enable etcd.service
  # --no-block: etcd notifies systemd only after joining a quorum, which needs the other members.
  systemctl start --no-block etcd.service
  # Grows the filesystem when the volume is enlarged in place (no new instance, so no new boot); other timers.
  systemctl enable ${[growTimerName, ...(p.timers ?? [])].join(" ")}
  systemctl start --no-block ${[growTimerName, ...(p.timers ?? [])].join(" ")}
${(p.unitsAfterEtcd ?? []).map((u) => `  systemctl enable ${shellQuote(u)}\n  systemctl start --no-block ${shellQuote(u)}\n`).join("")}  log "etcd started; it reports ready once a quorum of members is up"
}

${p.membership ? `readonly MEMBERSHIP_LIB=${p.membership.libraryPath}\n${p.membership.settings}` : ""}
main() {
  if [[ "\${1:-}" == grow-data ]]; then
    grow_data_fs
    return
  fi
${
    p.membership
        ? `  # shellcheck source=/dev/null
  [[ "\${1:-}" != promote ]] || { . "$MEMBERSHIP_LIB"; promote; return; }
`
        : ""
}  ensure_tools
  ensure_user
  install_release
${keyFetches
    .split("\n")
    .filter((l) => l)
    .map((l) => `  ${l}`)
    .join("\n")}
  secure_pki
${p.tools ? "  install_tools\n" : ""}  prepare_data_volume
${p.membership ? `  # shellcheck source=/dev/null\n  . "$MEMBERSHIP_LIB"\n  join_cluster\n` : ""}${(p.commandsBeforeEtcd ?? []).map((c) => `  ${c}\n`).join("")}  start_etcd
${p.membership ? "  promote_later\n" : ""}}

main "$@"
`);
}
