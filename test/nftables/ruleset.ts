// A desired state rendered with the nft rule renderer, assembled into one
// `nft -f` file per family for the tests: our table with the sets the state
// holds, every chain declared first (rules may jump forward), the hook rules
// in base chains at iptables' priorities, then each rule as `add rule`.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import type { IpSetState } from "../../iptables/ipset.js";
import { ipSetList } from "../../model/ipset-shards.js";
import { BUILTIN_CHAINS, chainList, TABLE_NAMES, type TableName } from "../../model/tables.js";
import { NFT_TABLE, nftSetName } from "../../nftables/names.js";
import { familyObjects, nftObjectElements, nftObjectSpec, objectDeclText } from "../../nftables/objects.js";

/** Base chain type, hook and priority of an iptables built-in chain. */
function baseChainSpec(table: TableName, builtin: string): string {
  const hook = builtin.toLowerCase();
  const prio = { raw: "-300", mangle: "-150", filter: "0" } as const;
  if (table === "nat") {
    const p = builtin === "PREROUTING" || builtin === "OUTPUT" ? "-100" : "100";
    return `type nat hook ${hook} priority ${p}; policy accept;`;
  }
  const type = table === "mangle" && builtin === "OUTPUT" ? "route" : "filter";
  return `type ${type} hook ${hook} priority ${prio[table]}; policy accept;`;
}

function setSpec(s: IpSetState): string {
  const addr = s.family === 4 ? "ipv4_addr" : "ipv6_addr";
  switch (s.type) {
    case "hash:net":
      return `type ${addr}; flags interval;`;
    case "hash:ip,port":
      return `type ${addr} . inet_proto . inet_service;`;
    case "hash:ip,port,ip":
      return `type ${addr} . inet_proto . inet_service . ${addr};`;
    case "hash:ip,port,net":
      return `type ${addr} . inet_proto . inet_service . ${addr}; flags interval;`;
  }
}

/** The family's rules as an `nft -f` file, and how many rules it adds. */
export function nftRuleset(s: DesiredState, v: 4 | 6): { text: string; rules: number } {
  const fam = v === 4 ? "ip" : "ip6";
  const tables = v === 4 ? s.iptables.ipv4 : s.iptables.ipv6;
  const decl: string[] = [`table ${fam} ${NFT_TABLE} {`];
  const adds: string[] = [];
  for (const set of ipSetList(s.ipsets)) {
    if (set.family === v) decl.push(`  set ${nftSetName(set.name)} { ${setSpec(set)} }`);
  }
  // kube-proxy's maps and affinity sets (FELIX_PROXYMODE=nftables); map elements once the chains exist.
  for (const o of familyObjects(s.nftObjects, v)) {
    const spec = nftObjectSpec(o);
    decl.push(`  ${spec.kind} ${o.name} { ${objectDeclText(spec)} }`);
    const elems = [...nftObjectElements(o)];
    if (elems.length) adds.push(`add element ${fam} ${NFT_TABLE} ${o.name} { ${elems.join(", ")} }`);
  }
  for (const t of TABLE_NAMES) {
    for (const b of BUILTIN_CHAINS[t]) {
      const h = tables[t].hooks[b];
      if (!h || h.insert.length + h.append.length === 0) continue;
      decl.push(`  chain ${t}-${b} { ${baseChainSpec(t, b)} }`);
      for (const r of [...h.insert, ...h.append]) adds.push(`add rule ${fam} ${NFT_TABLE} ${t}-${b} ${r.text}`);
    }
    for (const c of chainList(tables[t]).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      decl.push(`  chain ${t}-${c.name} {}`);
      for (const r of c.rules) adds.push(`add rule ${fam} ${NFT_TABLE} ${t}-${c.name} ${r.text}`);
    }
  }
  decl.push("}");
  return { text: `${[...decl, ...adds].join("\n")}\n`, rules: adds.length };
}
