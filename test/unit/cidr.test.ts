// CIDR blocks are judged on their parsed value, as AWS stores them: another spelling of the whole
// internet (0::/0 is ::/0) must not pass the world-open check, and a block that does not say what it
// means (10.0.0.1/16 is 10.0.0.0/16) is refused with its canonical form. Expected canonical forms below
// are literal values from Python's ipaddress module (ip_network(text, strict=False)), an independent
// implementation of the same rules (RFC 4632, RFC 5952).
import type { EtcdClusterArgs } from "../../components";
import { isWorldOpen, parseCidr } from "../../components/cidr";
import { checkCidr, resolveSettings } from "../../components/validation";

const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"] };
const invalid = 'an IPv4 or IPv6 CIDR block such as "10.0.0.0/16" or "2001:db8::/32"';

describe("parseCidr: canonical forms (as Python's ipaddress gives them)", () => {
    test.each([
        ["0::/0", "::/0", 6, 0],
        ["0:0:0:0:0:0:0:0/0", "::/0", 6, 0],
        ["::0/0", "::/0", 6, 0],
        ["::/0", "::/0", 6, 0],
        ["10.0.0.1/16", "10.0.0.0/16", 4, 16],
        ["10.0.0.0/0", "0.0.0.0/0", 4, 0],
        ["0.0.0.0/0", "0.0.0.0/0", 4, 0],
        ["2001:DB8::/32", "2001:db8::/32", 6, 32],
        ["2001:0db8::/32", "2001:db8::/32", 6, 32],
        ["2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128", 6, 128],
        ["1:0:0:2:0:0:0:3/128", "1:0:0:2::3/128", 6, 128],
        ["::ffff:10.0.0.1/128", "::ffff:a00:1/128", 6, 128],
        ["fe80::1/10", "fe80::/10", 6, 10],
        ["2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1/128", 6, 128],
        ["192.168.1.255/24", "192.168.1.0/24", 4, 24],
        ["255.255.255.255/32", "255.255.255.255/32", 4, 32],
        ["0.0.0.0/1", "0.0.0.0/1", 4, 1],
        ["010.0.0.0/8", "10.0.0.0/8", 4, 8],
        ["10.0.0.0/016", "10.0.0.0/16", 4, 16],
        ["1::/16", "1::/16", 6, 16],
        ["1:2:3:4:5:6:7::/112", "1:2:3:4:5:6:7:0/112", 6, 112],
        ["1:0:0:0:0:0:0:8/128", "1::8/128", 6, 128],
        ["1:2:3:4:5:6:1.2.3.4/128", "1:2:3:4:5:6:102:304/128", 6, 128],
        ["::1.2.3.4/128", "::102:304/128", 6, 128],
    ])("%s is %s", (text, canonical, family, prefix) => {
        expect(parseCidr(text)).toMatchObject({ canonical, family, prefix });
    });

    test.each([
        "abc/12",
        "10.0.0.0/33",
        "10.0.0.1",
        "300.1.1.0/24",
        "10.0.0/8",
        "10.0.0.0.0/8",
        "-1.0.0.0/8",
        "1e1.0.0.0/8",
        " 10.0.0.0/8",
        "10.0.0.0/8 ",
        "10.0.0.0/",
        "/8",
        "10.0.0.0/8/8",
        "::/129",
        "1:::/16",
        "1::2::/16",
        ":1::/16",
        "1:2:3:4:5:6:7:8:9/128",
        "1:2:3:4:5:6:7/128",
        "1:2:3:4:5:6:7:8::/128",
        "12345::/16",
        "g::/16",
        "fe80::1%eth0/64",
        "::ffff:10.0.0/96",
        "::ffff:1.2.3.4:5/128",
        "1:2:3:4:5:6:7:1.2.3.4/128",
        ":1.2.3.4/128",
        "10.0.0.0/0x8",
        "x/10.0.0.0/8",
        "1:2:3:4::5:6:7:8::/128",
        "1::2::3/128",
        "1:2:3:4:5:6:7:8::1::/128",
        "",
    ])("%j is not a CIDR block", (text) => {
        expect(parseCidr(text)).toBeUndefined();
    });

    test("the address keeps the host bits as written; the canonical form drops them", () => {
        const parsed = parseCidr("10.0.0.1/16")!;
        expect(parsed.address).toBe(0x0a000001n);
        expect(parseCidr("2001:db8::1/32")!.address).toBe(0x20010db8000000000000000000000001n);
    });

    test("world-open means prefix 0 in either family, however written", () => {
        for (const text of ["0.0.0.0/0", "10.0.0.0/0", "::/0", "0::/0", "ffff::/0"]) {
            expect(isWorldOpen(parseCidr(text)!)).toBe(true);
        }
        for (const text of ["0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1", "::/128"]) {
            expect(isWorldOpen(parseCidr(text)!)).toBe(false);
        }
    });
});

describe("checkCidr: the messages name the argument and the canonical form", () => {
    test.each([
        ["0::/0", 'clientCidrs[0]: expected a CIDR block narrower than the whole internet (this is ::/0; set allowPublicAccess to open it), got "0::/0"'],
        ["::0/0", 'clientCidrs[0]: expected a CIDR block narrower than the whole internet (this is ::/0; set allowPublicAccess to open it), got "::0/0"'],
        ["::/0", 'clientCidrs[0]: expected a CIDR block narrower than the whole internet (set allowPublicAccess to open it), got "::/0"'],
        [
            "10.0.0.0/0",
            'clientCidrs[0]: expected a CIDR block narrower than the whole internet (this is 0.0.0.0/0; set allowPublicAccess to open it), got "10.0.0.0/0"',
        ],
        ["10.0.0.1/16", 'clientCidrs[0]: expected the block in canonical form, "10.0.0.0/16", got "10.0.0.1/16"'],
        ["2001:DB8::/32", 'clientCidrs[0]: expected the block in canonical form, "2001:db8::/32", got "2001:DB8::/32"'],
        ["2001:db8::1/32", 'clientCidrs[0]: expected the block in canonical form, "2001:db8::/32", got "2001:db8::1/32"'],
        ["abc/12", `clientCidrs[0]: expected ${invalid}, got "abc/12"`],
    ])("%s without allowPublicAccess", (cidr, message) => {
        expect(() => checkCidr("clientCidrs[0]", cidr, false)).toThrow(message);
    });

    test("with allowPublicAccess a world-open block is accepted in canonical form only, and warned about", () => {
        expect(checkCidr("metricsCidrs[2]", "::/0", true)).toEqual(["metricsCidrs[2] ::/0: the port is open to the whole internet"]);
        expect(checkCidr("metricsCidrs[2]", "0.0.0.0/0", true)).toEqual(["metricsCidrs[2] 0.0.0.0/0: the port is open to the whole internet"]);
        expect(() => checkCidr("metricsCidrs[2]", "0::/0", true)).toThrow('metricsCidrs[2]: expected the block in canonical form, "::/0", got "0::/0"');
    });

    test("a narrower block is accepted without warning", () => {
        expect(checkCidr("clientCidrs[1]", "2001:db8::/32", false)).toEqual([]);
        expect(checkCidr("clientCidrs[1]", "0.0.0.0/1", false)).toEqual([]);
        expect(checkCidr("clientCidrs[1]", "10.1.2.3/32", false)).toEqual([]);
    });
});

describe("resolveSettings: every plain block of both lists, before any resource", () => {
    test.each([
        [{ clientCidrs: ["10.0.0.0/8", "0::/0"] }, "clientCidrs[1]: expected a CIDR block narrower than the whole internet (this is ::/0;"],
        [{ metricsCidrs: ["0::/0"] }, "metricsCidrs[0]: expected a CIDR block narrower than the whole internet (this is ::/0;"],
        [{ clientCidrs: ["10.0.0.1/16"] }, 'clientCidrs[0]: expected the block in canonical form, "10.0.0.0/16", got "10.0.0.1/16"'],
        [{ metricsCidrs: ["10.9.0.0/24", "abc/12"] }, `metricsCidrs[1]: expected ${invalid}, got "abc/12"`],
        [
            { clientCidrs: ["10.0.0.0/16", "10.1.0.0/16", "10.0.0.0/16"] },
            'clientCidrs[2]: expected a block not already given (clientCidrs[0]), got "10.0.0.0/16"',
        ],
    ])("%j", (extra, message) => {
        expect(() => resolveSettings({ ...base, ...extra })).toThrow(message);
    });

    test("the same block in both lists is fine (different ports)", () => {
        expect(() => resolveSettings({ ...base, clientCidrs: ["10.0.0.0/16"], metricsCidrs: ["10.0.0.0/16"] })).not.toThrow();
    });
});
