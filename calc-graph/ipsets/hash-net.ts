// Members of a `hash:net` IP set. The kernel refuses a /0 in such a set
// (ipset: "The value of the CIDR parameter of the IP address is invalid"),
// which would fail the whole `ipset restore` and stall every later apply;
// the two halves /1 + /1 match exactly the same addresses. A full-length
// prefix is written as the bare address, as `ipset list` prints it.

const HALVES: Readonly<Record<string, readonly string[] | undefined>> = {
  "0.0.0.0/0": ["0.0.0.0/1", "128.0.0.0/1"],
  "::/0": ["::/1", "8000::/1"],
};

/** `hash:net` members for canonical CIDRs. */
export function hashNetMembers(cidrs: Iterable<string>): string[] {
  const out: string[] = [];
  for (const c of cidrs) {
    const halves = HALVES[c];
    if (halves) {
      out.push(...halves);
      continue;
    }
    // Only the family's full length: an IPv6 /32 is a network, not a host. (No regex: every pod goes through here.)
    const host = c.includes(":") ? "/128" : "/32";
    out.push(c.endsWith(host) ? c.slice(0, c.length - host.length) : c);
  }
  return out.length > 0 ? out.slice() : out; // exact size: kept per endpoint, and a pushed-to array keeps room for 17
}
