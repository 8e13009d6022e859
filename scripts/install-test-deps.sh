#!/usr/bin/env bash
# Installs what the tests and `npm run local` need on a Debian machine, and fills the local etcd release
# mirror (.cache/etcd-mirror) with tarballs in the upstream layout:
#   3.4.23 from the machine's own Debian release, 3.5.30 from Debian sid (unpacked, not installed).
# Safe to run again: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly MIRROR=.cache/etcd-mirror
readonly PACKAGES=(etcd-server etcd-client cloud-init shellcheck iproute2 openssl systemd util-linux e2fsprogs curl ca-certificates)

log() { echo "setup: $*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages already installed"
    return
  fi
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pack VERSION DIR: DIR holds etcd, etcdctl and maybe etcdutl; writes the upstream-style tarball and SHA256SUMS.
pack() {
  local version=$1 bin_dir=$2 name="etcd-v$1-linux-amd64" work
  work=$(mktemp -d)
  mkdir -p "$work/$name" "$MIRROR/v$version"
  local binary
  for binary in etcd etcdctl etcdutl; do
    [[ -x "$bin_dir/$binary" ]] && cp "$bin_dir/$binary" "$work/$name/"
  done
  tar -czf "$MIRROR/v$version/$name.tar.gz" -C "$work" --owner=0 --group=0 --sort=name "$name"
  (cd "$MIRROR/v$version" && sha256sum "$name.tar.gz" >SHA256SUMS)
  rm -rf "$work"
  log "mirror: $MIRROR/v$version/$name.tar.gz ($(cut -c1-12 "$MIRROR/v$version/SHA256SUMS")...)"
}

mirror_bookworm_etcd() {
  [[ -s "$MIRROR/v3.4.23/SHA256SUMS" ]] && return
  local version
  version=$(/usr/bin/etcd --version | sed -n 's/^etcd Version: //p')
  [[ "$version" == 3.4.23 ]] || { log "ERROR: /usr/bin/etcd is $version, expected 3.4.23"; exit 1; }
  local work
  work=$(mktemp -d)
  cp /usr/bin/etcd /usr/bin/etcdctl "$work/"
  pack 3.4.23 "$work"
  rm -rf "$work"
}

# The mirror URI comes from the machine's own apt sources; only the suite changes.
debian_mirror_uri() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n 1)
  if [[ -z "$uri" ]]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null)
  fi
  [[ -n "$uri" ]] || { log "ERROR: no Debian mirror URI in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"; exit 1; }
  echo "$uri"
}

mirror_sid_etcd() {
  [[ -s "$MIRROR/v3.5.30/SHA256SUMS" ]] && return
  local apt_dir work uri
  apt_dir=$(realpath -m .cache/apt-sid)
  work=$(mktemp -d)
  uri=$(debian_mirror_uri)
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" >"$apt_dir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Get::List-Cleanup=0)
  log "fetching the sid package index (private lists under $apt_dir)"
  apt-get "${opts[@]}" update -qq
  local candidate
  candidate=$(apt-cache "${opts[@]}" policy etcd-server | sed -n 's/^[[:space:]]*Candidate:[[:space:]]*//p')
  case "$candidate" in
    3.5.30*) ;;
    *) log "ERROR: sid offers etcd-server $candidate, expected 3.5.30"; exit 1 ;;
  esac
  (cd "$work" && apt-get "${opts[@]}" download -qq etcd-server etcd-client)
  local deb
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
  # Captured first: under pipefail, grep -q closing the pipe early would fail the check at random.
  local unpacked
  unpacked=$("$work/root/usr/bin/etcd" --version)
  [[ "$unpacked" == *"etcd Version: 3.5.30"* ]] || { log "ERROR: unpacked etcd is not 3.5.30: $unpacked"; exit 1; }
  pack 3.5.30 "$work/root/usr/bin"
  rm -rf "$work"
}

install_packages
mkdir -p "$MIRROR"
mirror_bookworm_etcd
mirror_sid_etcd
bash scripts/local/build-member-image.sh
log "ready: $(find "$MIRROR" -name "*.tar.gz" -printf "%f ")"
