#!/bin/bash
# Runs a command as on a fresh member host: inside its network namespace (entered by the caller), in a
# private mount namespace, chrooted into a copy-on-write view of this machine (overlay: the member's own
# /etc, /usr/local, /var; nothing written reaches the host). The member's data volume is a loop device
# that appears where EC2 would show it: /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<volume id>.
#
# Usage: member-sandbox.sh MEMBER_DIR LOOP_DEVICE VOLUME_ID MIRROR_DIR COMMAND...
# MEMBER_DIR holds upper/ and overlay-work/ (the member's writes), root/ (the mount point), ssm/ (the
# member's own parameters for the SSM stand-in) and state/ (the service manager stand-in's pid files).
set -euo pipefail

readonly member_dir=$1 loop_device=$2 volume_id=$3 mirror_dir=$4
shift 4
readonly root=$member_dir/root
shims=$(cd "$(dirname "$0")" && pwd)
readonly shims

mount -t overlay overlay -o "lowerdir=/,upperdir=$member_dir/upper,workdir=$member_dir/overlay-work" "$root"

# A minimal /dev: the usual character devices and the data volume only.
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for node in null zero random urandom full tty; do
  touch "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir -p "$root/dev/pts" "$root/dev/shm" "$root/dev/disk/by-id"
loop_name=$(basename "$loop_device")
touch "$root/dev/$loop_name"
mount --bind "$loop_device" "$root/dev/$loop_name"
ln -s "../../$loop_name" "$root/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id//-/}"

mount --rbind /proc "$root/proc"
mount --rbind /sys "$root/sys"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"

# The release mirror (read-only), the member's parameters, the service manager's state, and the two
# stand-ins first on PATH: the only things that differ from an EC2 member.
mkdir -p "$root/run/etcd-mirror" "$root/run/local-ssm" "$root/run/local-systemd" "$root/run/local-bin"
mount --bind "$mirror_dir" "$root/run/etcd-mirror"
mount -o remount,bind,ro "$root/run/etcd-mirror"
mount --bind "$member_dir/ssm" "$root/run/local-ssm"
mount -o remount,bind,ro "$root/run/local-ssm"
mount --bind "$member_dir/state" "$root/run/local-systemd"
install -m 0755 "$shims/systemctl.sh" "$root/run/local-bin/systemctl"
install -m 0755 "$shims/aws-ssm.sh" "$root/run/local-bin/aws"

exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/run/local-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
