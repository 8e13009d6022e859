// A failed release download reports curl's error once, not once per retry.
import { execFile } from "child_process";
import { createServer } from "http";
import { AddressInfo } from "net";
import { curlFailure } from "../../scripts/lib/local/localRelease";

test("curl's repeated error lines are reported once, with the number of attempts", () => {
    const fourTimes = "curl: (22) The requested URL returned error: 503\n".repeat(4);
    expect(curlFailure(fourTimes)).toBe("curl: (22) The requested URL returned error: 503 (4 attempts)");
    expect(curlFailure("curl: (6) Could not resolve host: example.invalid\n")).toBe("curl: (6) Could not resolve host: example.invalid");
    expect(curlFailure("Warning: Problem: HTTP error. Will retry\ncurl: (22) error: 503\n")).toBe(
        "Warning: Problem: HTTP error. Will retry; curl: (22) error: 503",
    );
});

test("with real curl retrying a failing server on loopback, the error reads once", async () => {
    const server = createServer((_, res) => {
        res.statusCode = 503;
        res.end("unavailable");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
        const stderr = await new Promise<string>((resolve) =>
            execFile(
                "curl",
                [
                    "--fail",
                    "--silent",
                    "--show-error",
                    "--location",
                    "--retry",
                    "3",
                    "--retry-delay",
                    "1",
                    "--output",
                    "/dev/null",
                    `http://127.0.0.1:${port}/x.tar.gz`,
                ],
                (_, __, err) => resolve(String(err)),
            ),
        );
        expect(stderr.trim().split("\n")).toHaveLength(4);
        expect(curlFailure(stderr)).toBe("curl: (22) The requested URL returned error: 503 (4 attempts)");
    } finally {
        server.close();
    }
}, 30_000);
