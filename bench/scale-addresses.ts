// The synthetic cluster's address plan: pod CIDRs 10.64.0.0/10 carved into a /24
// per node, node InternalIPs in 172.16.0.0/12, Service cluster IPs in 10.96.0.0/12.

const ipNumber = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const ipText = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const POD_NET = (10 << 24) | (64 << 16); // 10.64.0.0/10, a /24 per node
const NODE_NET = ((172 << 24) | (16 << 16)) >>> 0; // 172.16.0.0/12
const SVC_NET = (10 << 24) | (96 << 16); // 10.96.0.0/12
/** Usable pod addresses per node block (.2 … .251). */
export const PODS_PER_NODE = 250;

export const nodeName = (i: number) => `node-${i}`;
export const nodePodCidr = (i: number) => `${ipText(POD_NET + i * 256)}/24`;
export const nodeInternalIp = (i: number) => ipText(NODE_NET + 10 + i);
export const podIp = (node: number, slot: number) => ipText(POD_NET + node * 256 + 2 + slot);
/** The address slot of a pod IP in its node's block: podIp's inverse. */
export const slotOfPodIp = (node: number, ip: string) => ipNumber(ip) - POD_NET - node * 256 - 2;
export const serviceIp = (v: number) => ipText(SVC_NET + 10 + v);
