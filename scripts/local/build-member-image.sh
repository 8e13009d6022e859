#!/usr/bin/env bash
# Builds the root filesystem that local members boot with systemd-nspawn (.cache/member-image/rootfs):
# minimal Debian with systemd as PID 1 and cloud-init reading the NoCloud seed that the runner writes per
# member. Only what EC2 provides differently is configured here: the datasource, networking by
# systemd-networkd (the address comes from the runner), and the locale cloud-init expects.
# Skipped when the cached image was built by this same script; about 40 s otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly IMAGE_DIR=.cache/member-image
readonly SUITE=bookworm
readonly PACKAGES=systemd,systemd-sysv,dbus,cloud-init,curl,ca-certificates,e2fsprogs,util-linux,iproute2,openssl,procps,awscli

log() { echo "member image: $*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# The stamp names what the image was built from: this script and the suite.
stamp=$(sha256sum <"$0" | cut -c1-16)-$SUITE
if [[ -f "$IMAGE_DIR/stamp" && "$(cat "$IMAGE_DIR/stamp")" == "$stamp" && -x "$IMAGE_DIR/rootfs/lib/systemd/systemd" ]]; then
  log "cached ($IMAGE_DIR/rootfs)"
  exit 0
fi

missing=()
for pkg in mmdebstrap systemd-container; do
  [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian mirror comes from the machine's own apt sources.
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n 1 || true)
if [[ -z "$uri" ]]; then
  uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null || true)
fi
[[ -n "$uri" ]] || { log "ERROR: no Debian mirror URI in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"; exit 1; }

# customize CHROOT: what a cloud image's vendor would configure.
customize() {
  local root=$1
  mkdir -p "$root/etc/cloud/cloud.cfg.d" "$root/etc/systemd/network"
  cat >"$root/etc/cloud/cloud.cfg.d/90-local-member.cfg" <<'EOF'
# Local member: the NoCloud seed written by the runner stands in for EC2's metadata service, and
# systemd-networkd sets the member's address.
datasource_list: [NoCloud, None]
network:
  config: disabled
locale: C.UTF-8
EOF
  # Address and gateway are written per member into /etc/systemd/network/10-host0.network.
  chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
  # The console is read by nobody: no login prompt on it.
  chroot "$root" systemctl mask console-getty.service getty.target >/dev/null 2>&1
  rm -f "$root/etc/hostname"
  : >"$root/etc/machine-id"
  rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
}

work=$(mktemp -d "${TMPDIR:-/tmp}/member-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "building Debian $SUITE with systemd and cloud-init (mmdebstrap; about 40 s)"
started=$SECONDS
as_root mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$uri" >&2
customize "$work/rootfs"
rm -rf "$IMAGE_DIR"
mkdir -p "$IMAGE_DIR"
mv "$work/rootfs" "$IMAGE_DIR/rootfs"
echo "$stamp" >"$IMAGE_DIR/stamp"
log "built in $((SECONDS - started)) s: $IMAGE_DIR/rootfs ($(du -sm "$IMAGE_DIR/rootfs" | cut -f1) MiB)"
