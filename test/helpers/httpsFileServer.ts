// A static HTTPS file server on a loopback address, with its own CA made by openssl, standing in for the
// official release download. It runs in a child process: the code under test calls curl synchronously.
// Paths under /stall/ are accepted and never answered (an address that drops traffic).
import { ChildProcess, spawn } from "child_process";
import { mkdirSync, writeFileSync } from "fs";
import { join } from "path";
import { run } from "./tools";

export interface HttpsFileServer {
    /** https://127.0.0.x:PORT */
    baseUrl: string;
    /** The CA that signed the server's certificate (PEM), for curl --cacert. */
    caFile: string;
    /** Requests served so far, as "METHOD /path STATUS". */
    requests(): Promise<string[]>;
    stop(): Promise<void>;
}

const serverSource = `
const https = require("https"), http = require("http"), fs = require("fs"), path = require("path");
const [root, key, cert, host] = process.argv.slice(1);
const log = [];
const handler = (req, res) => {
    const url = decodeURIComponent(req.url.split("?")[0]);
    if (url === "/_requests") return res.end(JSON.stringify(log));
    if (url.startsWith("/stall/")) return;
    const file = path.join(root, path.normalize(url));
    const ok = file.startsWith(root + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile();
    log.push(req.method + " " + url + " " + (ok ? 200 : 404));
    if (!ok) { res.statusCode = 404; return res.end("not found\\n"); }
    res.setHeader("Content-Length", fs.statSync(file).size);
    if (req.method === "HEAD") return res.end();
    fs.createReadStream(file).pipe(res);
};
const server = key === "-" ? http.createServer(handler) : https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, handler);
server.listen(0, host, () => console.log(server.address().port));
`;

function openssl(args: string[]): void {
    const r = run("openssl", args);
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
}

/** Serves `root` over HTTPS on `host` (a 127.0.0.x address) with a certificate for that address, or over plain HTTP. */
export async function startHttpsFileServer(root: string, work: string, host = "127.0.0.77", plain = false): Promise<HttpsFileServer> {
    const pki = join(work, "pki");
    mkdirSync(pki, { recursive: true });
    const f = (name: string) => join(pki, name);
    openssl([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test release CA",
        "-keyout",
        f("ca.key"),
        "-out",
        f("ca.crt"),
    ]);
    openssl([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        `/CN=${host}`,
        "-keyout",
        f("server.key"),
        "-out",
        f("server.csr"),
    ]);
    writeFileSync(f("server.ext"), `subjectAltName=IP:${host}\nextendedKeyUsage=serverAuth\n`);
    openssl([
        "x509",
        "-req",
        "-in",
        f("server.csr"),
        "-CA",
        f("ca.crt"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        f("server.ext"),
        "-out",
        f("server.crt"),
    ]);

    const child: ChildProcess = spawn(process.execPath, ["-e", serverSource, root, plain ? "-" : f("server.key"), f("server.crt"), host], {
        stdio: ["ignore", "pipe", "pipe"],
    });
    const port = await new Promise<number>((resolve, reject) => {
        let stderr = "";
        child.stderr!.on("data", (d) => (stderr += d));
        child.stdout!.once("data", (d) => resolve(Number(String(d).trim())));
        child.once("exit", (code) => reject(new Error(`HTTPS file server exited (${code}): ${stderr}`)));
    });
    const baseUrl = `${plain ? "http" : "https"}://${host}:${port}`;
    return {
        baseUrl,
        caFile: f("ca.crt"),
        requests: async () => {
            const r = run("curl", ["--silent", "--cacert", f("ca.crt"), `${baseUrl}/_requests`]);
            return JSON.parse(r.stdout) as string[];
        },
        stop: () =>
            new Promise<void>((resolve) => {
                if (child.exitCode !== null) return resolve();
                child.once("exit", () => resolve());
                child.kill();
            }),
    };
}
