import { spawn, ChildProcess } from "child_process";
import { readFileSync } from "fs";
import { join } from "path";
import { etcdctl, LocalCluster } from "../../scripts/lib/local/localCluster";

/** What a write load saw: acknowledged keys, refused attempts, and the longest time writes were refused. */
export interface WriteLoadResult {
    acknowledged: string[];
    refused: number;
    /** Longest stretch from the first refused write after an acknowledged one to the next acknowledged write, in ms. */
    longestRefusalMs: number;
    /** Why writes were refused: etcdctl's error (its last line), with how many writes got it. */
    reasons: Record<string, number>;
}

/**
 * A continuous write load on a local cluster: one `etcdctl put` after another (each with a 2 s command
 * timeout), against the given endpoints, every result recorded with its time. Keys are `<prefix>/<n>`.
 */
export class WriteLoad {
    private readonly child: ChildProcess;
    private readonly logFile: string;

    constructor(
        private readonly c: LocalCluster,
        private readonly endpoints: string[],
        private readonly prefix: string,
    ) {
        this.logFile = join(c.dir, `${prefix}.log`);
        const script = `n=0
while true; do
  n=$((n + 1))
  if err=$("$ETCDCTL" --endpoints="$ENDPOINTS" --cacert="$CA" --cert="$CERT" --key="$KEY" --dial-timeout=2s --command-timeout=2s put "$PREFIX/$n" "v$n" 2>&1 >/dev/null); then
    echo "ok $n $(date +%s%3N)"
  else
    echo "fail $n $(date +%s%3N) $(printf '%s' "$err" | tail -n 1 | tr -s '[:space:]' ' ')"
  fi
done >"$LOG"`;
        this.child = spawn("bash", ["-c", script], {
            env: {
                PATH: process.env.PATH,
                ETCDCTL_API: "3",
                ETCDCTL: c.etcdctl,
                ENDPOINTS: endpoints.join(","),
                CA: c.caFile,
                CERT: c.certFile,
                KEY: c.keyFile,
                PREFIX: prefix,
                LOG: this.logFile,
            },
            stdio: "ignore",
        });
    }

    /** Stops the load and reads what it saw. */
    async stop(): Promise<WriteLoadResult> {
        const exited = new Promise((resolve) => this.child.once("exit", resolve));
        this.child.kill("SIGTERM");
        await exited;
        const lines = readFileSync(this.logFile, "utf8")
            .split("\n")
            .map((l) => /^(ok|fail) (\d+) (\d+)(?: (.*))?$/.exec(l))
            .filter((m): m is RegExpExecArray => m !== null)
            .map(([, status, n, at, reason]) => ({ ok: status === "ok", key: `${this.prefix}/${n}`, at: Number(at), reason: reason ?? "" }));
        let longest = 0;
        let refusedSince: number | undefined;
        for (const l of lines) {
            if (!l.ok && refusedSince === undefined) refusedSince = l.at;
            if (l.ok && refusedSince !== undefined) {
                longest = Math.max(longest, l.at - refusedSince);
                refusedSince = undefined;
            }
        }
        const reasons: Record<string, number> = {};
        for (const l of lines.filter((x) => !x.ok)) reasons[l.reason] = (reasons[l.reason] ?? 0) + 1;
        return {
            acknowledged: lines.filter((l) => l.ok).map((l) => l.key),
            refused: lines.filter((l) => !l.ok).length,
            longestRefusalMs: longest,
            reasons,
        };
    }

    /** Acknowledged keys that the cluster does not hold (read linearizably). */
    missing(result: WriteLoadResult): string[] {
        const r = etcdctl(this.c, ["get", `${this.prefix}/`, "--prefix", "--keys-only"], this.endpoints);
        if (r.status !== 0) throw new Error(`reading ${this.prefix}/ failed: ${r.stderr}`);
        const held = new Set(r.stdout.split("\n").filter(Boolean));
        return result.acknowledged.filter((k) => !held.has(k));
    }
}
