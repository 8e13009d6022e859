#!/bin/bash
# Runs a command as on a member host without touching this one: in a private mount namespace, chrooted into
# a copy-on-write view of this machine whose writes land in DIR/upper (files placed there beforehand, such
# as /etc/etcd/etcd.env, appear in the view). Loopback is shared, so etcd and moto on 127.0.0.1 are reachable.
#
# Usage: overlay-root.sh DIR COMMAND...   (as root; the environment is passed through)
set -euo pipefail
readonly dir=$1
shift
mkdir -p "$dir/upper" "$dir/work" "$dir/root"
# shellcheck disable=SC2016 # the inner script expands its own arguments
exec unshare --mount --propagation private /bin/bash -euo pipefail -c '
  dir=$1
  shift
  mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
  mount --rbind /proc "$dir/root/proc"
  mount --rbind /sys "$dir/root/sys"
  mount --rbind /dev "$dir/root/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$dir/root/tmp"
  exec chroot "$dir/root" "$@"
' overlay-root "$dir" "$@"
