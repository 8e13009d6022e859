import { shellQuote, withoutComments } from "./bootScript";
import { clientCommonName, memberPaths } from "./paths";

export const authScriptPath = "/usr/local/sbin/etcd-enable-auth";
export const authUnitName = "etcd-enable-auth.service";
export const authUnitPath = `/etc/systemd/system/${authUnitName}`;

/**
 * Renders the script that turns on etcd's own authentication once the cluster is healthy. With client
 * certificate authentication, etcd takes the certificate's CN as the user name: the client certificate
 * (CN "root") becomes the root user, and each member's certificate (CN = member name) a user with the root
 * role, so that etcdctl on the members keeps working. All users are certificate-only (no password).
 * Idempotent: it does nothing once auth is enabled.
 */
export function renderAuthScript(memberNames: string[]): string {
    for (const name of memberNames) {
        if (!/^[a-z0-9-]+$/.test(name)) {
            throw new Error(`member name ${JSON.stringify(name)} is not safe in the auth script`);
        }
    }
    return withoutComments(`#!/bin/bash
# Enables etcd authentication once the cluster is healthy; rendered by the EtcdCluster component.
set -euo pipefail
# shellcheck source=/dev/null
. ${memberPaths.etcdctlProfile}
readonly USERS=(${userWords([clientCommonName, ...memberNames])})
log() { echo "etcd-enable-auth: $*" >&2; }

until etcdctl --command-timeout=5s endpoint health --cluster >/dev/null 2>&1; do
  log "waiting for a healthy cluster"
  sleep 10
done
status=$(etcdctl auth status 2>/dev/null || true)
if [[ "$status" == *"Authentication Status: true"* ]]; then
  log "authentication already enabled"
  exit 0
fi
for user in "\${USERS[@]}"; do
  if ! etcdctl user get "$user" >/dev/null 2>&1; then
    etcdctl user add "$user" --no-password
  fi
  etcdctl user grant-role "$user" root
done
etcdctl auth enable
log "authentication enabled; users: \${USERS[*]}"
`);
}

/**
 * The user names as bash words: a run of names "<base>-0" to "<base>-N" as one brace expansion (every name a
 * member may ever have is a user, and user-data is limited to 16 KB).
 */
function userWords(names: string[]): string {
    const words: string[] = [];
    for (let i = 0; i < names.length;) {
        const m = /^(.*-)0$/.exec(names[i]);
        let n = 0;
        while (m && names[i + n + 1] === `${m[1]}${n + 1}`) n++;
        words.push(m && n > 0 ? `${shellQuote(m[1])}{0..${n}}` : shellQuote(names[i]));
        i += m && n > 0 ? n + 1 : 1;
    }
    return words.join(" ");
}

/** A oneshot unit that runs the auth script after etcd, retrying until it succeeds. */
export function renderAuthUnit(): string {
    return `[Unit]
Description=Enable etcd authentication once the cluster is healthy
After=etcd.service
Requires=etcd.service

[Service]
Type=oneshot
ExecStart=${authScriptPath}
Restart=on-failure
RestartSec=15s
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`;
}
