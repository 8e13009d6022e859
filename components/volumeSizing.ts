// How large a member's data volume must be for a backend quota, so that a full database raises etcd's NOSPACE
// alarm (reads and deletes still served, a person recovers) instead of filling the disk (etcd exits on ENOSPC
// and crash-loops, the member is lost until someone frees space by hand).

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * What the data volume holds, in etcd's own figures (3.4 to 3.6), at worst three database-sized files at once:
 * - the db file itself, up to the quota: etcd raises NOSPACE once the file would pass it;
 * - defragmentation writes the compacted database (up to the quota) to a new file next to the old one before
 *   swapping them; a follower that fell behind receives the leader's whole database as
 *   `member/snap/<index>.snap.db` next to its own;
 * - the leader's backup: `snapshot save` writes the in-use database (up to the quota) and its gzip (as large
 *   again when values do not compress, such as encrypted Secrets) stays until the upload ends. The
 *   defragmentation service never starts while the backup runs, and a snapshot asked for during a
 *   defragmentation waits for it (etcd commits the backend first, under the lock defragmentation holds), so the
 *   two never add up; a first-boot restore holds the download, its unpacked file and the restored member;
 * - the WAL: 64 MiB segments, `--max-wals` 5 kept, one more while the oldest waits for a snapshot to release it
 *   and the next one preallocated (7 x 64 MiB); the raft snapshot files (`--max-snapshots` 5, membership only:
 *   kilobytes) and the db file's growth past the quota (bbolt grows its file 16 MiB at a time) fit in one more;
 * - ext4 itself: 5 % reserved for root (etcd is not root), inode tables (1.6 % at 16 KiB per inode, 6.25 %
 *   below 512 MiB) and the journal (up to 128 MiB for volumes to 64 GiB).
 * With the defaults: a 2 GiB quota needs 8 GiB; the default 32 GiB volume holds up to 9.6 GiB (etcd suggests
 * at most 8 GiB).
 */
export const volumeRule = {
    /** Database-sized files at once: the db, and defragmentation's copy, a received snapshot or the backup and its gzip. */
    quotaCopies: 3,
    /** WAL segments (7 x 64 MiB) and one more for snapshot files and the db's growth step. */
    walAndSnapshotBytes: 8 * 64 * MiB,
    /** ext4's journal and the metadata a small volume needs beyond its share. */
    filesystemFixedBytes: 128 * MiB,
    /** Share of the volume etcd can use: ext4 reserves 5 % for root and spends about 2 % on inode tables. */
    usableShare: 0.92,
} as const;

/** Smallest data volume, in bytes, that holds a database at `quotaBytes` and everything that comes with it. */
export function requiredVolumeBytes(quotaBytes: number): number {
    const r = volumeRule;
    return Math.ceil((r.quotaCopies * quotaBytes + r.walAndSnapshotBytes + r.filesystemFixedBytes) / r.usableShare);
}

/** Smallest volume in whole GiB (EBS sizes) for the quota. */
export function requiredVolumeGib(quotaBytes: number): number {
    return Math.ceil(requiredVolumeBytes(quotaBytes) / GiB);
}

/** Largest quota, in whole MiB, a volume of `volumeBytes` holds (0 when none does). */
export function largestQuotaBytes(volumeBytes: number): number {
    const r = volumeRule;
    const room = Math.floor(volumeBytes * r.usableShare) - r.walAndSnapshotBytes - r.filesystemFixedBytes;
    return Math.max(0, Math.floor(room / r.quotaCopies / MiB) * MiB);
}

/** "2 GiB", "7.2 GiB", "304 MiB": sizes in messages. */
export function formatBytes(bytes: number): string {
    if (bytes >= GiB) {
        return `${Number((bytes / GiB).toFixed(1))} GiB`;
    }
    return `${Number((bytes / MiB).toFixed(1))} MiB`;
}
