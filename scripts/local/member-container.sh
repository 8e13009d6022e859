#!/usr/bin/env bash
# Runs one local member as a systemd-nspawn container: systemd as PID 1 and cloud-init reading the NoCloud
# seed in the member's root, on a copy-on-write layer over the cached image. Restarts the container when
# it reboots (nspawn exits with 133), so a reboot keeps the member's root and data volume, as on EC2.
#
# Usage: member-container.sh MEMBER_DIR MACHINE BRIDGE LOOP_DEVICE MIRROR_DIR IMAGE_ROOTFS AWS_DIR
# MEMBER_DIR holds upper/ and overlay-work/ (the member's root disk) and root/ (the mount point). AWS_DIR
# holds `aws` (Debian's AWS CLI with the local backup store's endpoint) and ca.crt (the store's CA). Written
# here: launcher.pid (this script's pid, also after it re-executes itself in a private mount namespace) and
# cgroups (the cgroups made for the member).
#
# This machine's PID 1 may not be systemd: nspawn neither registers with machined nor asks for a scope
# (--register=no --keep-unit), and runs in cgroups of its own in every hierarchy, so that the systemd of
# one container never manages another container's cgroups.
set -euo pipefail

readonly member_dir=$1 machine=$2 bridge=$3 loop_device=$4 mirror_dir=$5 image=$6 aws_dir=$7

join_own_cgroups() {
  : >"$member_dir/cgroups"
  local line hierarchy path mount dir own
  # Read once: each move changes what /proc/self/cgroup says.
  own=$(cat /proc/self/cgroup)
  while IFS= read -r line; do
    hierarchy=${line#*:}
    path=${hierarchy#*:}
    hierarchy=${hierarchy%%:*}
    case "$hierarchy" in
      "") mount=/sys/fs/cgroup/unified ;;
      name=*) mount=/sys/fs/cgroup/${hierarchy#name=} ;;
      *) mount=/sys/fs/cgroup/${hierarchy%%,*} ;;
    esac
    # A pure cgroup v2 host has the unified hierarchy at /sys/fs/cgroup itself.
    [[ -d "$mount" ]] || mount=/sys/fs/cgroup
    [[ -f "$mount/cgroup.procs" ]] || continue
    dir=${mount}${path%/}/etcd-local/$machine
    mkdir -p "$dir"
    echo "$dir" >>"$member_dir/cgroups"
    if [[ -f "$dir/cpuset.cpus" && -z "$(cat "$dir/cpuset.cpus")" ]]; then
      cat "$(dirname "$dir")/../cpuset.cpus" >"$(dirname "$dir")/cpuset.cpus" 2>/dev/null || true
      cat "$(dirname "$dir")/../cpuset.mems" >"$(dirname "$dir")/cpuset.mems" 2>/dev/null || true
      cat "$(dirname "$dir")/cpuset.cpus" >"$dir/cpuset.cpus"
      cat "$(dirname "$dir")/cpuset.mems" >"$dir/cpuset.mems"
    fi
    echo $$ >"$dir/cgroup.procs"
  done <<<"$own"
}

if [[ "${LOCAL_MEMBER_IN_NAMESPACE:-}" != 1 ]]; then
  echo $$ >"$member_dir/launcher.pid"
  join_own_cgroups
  # A private mount namespace: the member's root overlay and nspawn's runtime directory vanish with it.
  LOCAL_MEMBER_IN_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" "$@"
fi

mount -t tmpfs -o mode=0755 tmpfs /run/systemd 2>/dev/null || mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/nspawn
mount -t overlay overlay -o "lowerdir=$image,upperdir=$member_dir/upper,workdir=$member_dir/overlay-work" "$member_dir/root"

while true; do
  rc=0
  # What differs from EC2: the release mirror (file://), the AWS endpoint (the local backup store, moto), and
  # the loop device behind the data volume's NVMe path (linked by /etc/tmpfiles.d/local-data-volume.conf).
  systemd-nspawn --quiet --boot --register=no --keep-unit \
    --machine="$machine" --directory="$member_dir/root" \
    --network-bridge="$bridge" --resolv-conf=off --timezone=off --link-journal=no \
    --bind="$loop_device" \
    --bind-ro="$mirror_dir:/run/etcd-mirror" \
    --bind-ro="$aws_dir/aws:/usr/local/bin/aws" \
    --bind-ro="$aws_dir/ca.crt:/run/local-aws/ca.crt" || rc=$?
  echo "member-container: nspawn exited with $rc at $(date -u +%FT%TZ)"
  ((rc == 133)) || exit "$rc"
done
