// FELIX_TEST_DATAPLANE=nftables runs the kernel e2e suites with the agent in
// nftables mode (FELIX_NFTABLESMODE=Enabled for every agent they start, which
// inherit this process's environment); `iptables` (the default) pins
// Disabled, so a host where kube-proxy runs in nftables mode (Auto) does not
// change what the suites test.

export type TestDataplane = "iptables" | "nftables";

export const TEST_DATAPLANE: TestDataplane = process.env.FELIX_TEST_DATAPLANE === "nftables" ? "nftables" : "iptables";

if (process.env.FELIX_TEST_DATAPLANE && !["iptables", "nftables"].includes(process.env.FELIX_TEST_DATAPLANE)) {
  throw new Error(`FELIX_TEST_DATAPLANE must be iptables or nftables, not ${process.env.FELIX_TEST_DATAPLANE}`);
}
process.env.FELIX_NFTABLESMODE ??= TEST_DATAPLANE === "nftables" ? "Enabled" : "Disabled";
