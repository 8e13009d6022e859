#!/usr/bin/env bash
# Installs what the tests and `npm run local` need on a Debian or Ubuntu machine, and fills the local etcd
# release mirror (.cache/etcd-mirror) with tarballs in the upstream layout: a 3.4, the newest 3.5 and a 3.6 when
# one is available, as official releases checked against the pinned checksums when the download answers, else
# from the distribution's packages (unpacked, not installed). Run after `npm ci`.
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
    log "system packages already installed"
    return
  fi
  as_root apt-get update -qq
  # A package this release does not have is named and left out; for etcd the mirror then uses other sources.
  local available=()
  for pkg in "${missing[@]}"; do
    if [[ "$(apt-cache policy "$pkg" | sed -n 's/^[[:space:]]*Candidate:[[:space:]]*//p')" =~ ^(|\(none\))$ ]]; then
      log "$pkg: not packaged by this distribution release; skipped"
    else
      available+=("$pkg")
    fi
  done
  ((${#available[@]} > 0)) || return 0
  log "installing ${available[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${available[@]}" >/dev/null
}

# The mirror's releases and their sources (official tarballs when reachable, else the distribution's packages)
# are chosen in scripts/setup-mirror.ts, which says which source it used for each.
fill_mirror() {
  npx --no-install ts-node --transpile-only scripts/setup-mirror.ts --mirror "$MIRROR"
}

# The backup tests run the members' scripts with the real AWS CLI against moto's server (S3, KMS, CloudWatch).
ensure_aws_apis() {
  if ! command -v aws >/dev/null; then
    log "installing awscli"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends awscli >/dev/null
  fi
  if ! python3 -c 'import moto.server' 2>/dev/null; then
    log "installing moto[server] for python3"
    python3 -m pip install --quiet "moto[server]" || log "could not install moto; the backup tests need it (pip install \"moto[server]\")"
  fi
}

install_packages
ensure_aws_apis
mkdir -p "$MIRROR"
fill_mirror
bash scripts/local/build-member-image.sh
log "ready: $(find "$MIRROR" -name "*.tar.gz" -printf "%f ")"
