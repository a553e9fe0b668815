// felix-dump's two live policy views: `drops --live` (NFLOG drop reports)
// and `hits --live` (kernel counters per policy rule), over this node's graph.

import { type Command, Option } from "commander";
import { chooseBackend } from "../../iptables/detect.js";
import type { RuleRenderer } from "../../model/rule-renderer.js";
import { NFT_RULES } from "../../nftables/render.js";
import type { NodeView } from "../../trace/node-view.js";
import { UsageError } from "../cli/errors.js";
import { listNftTables } from "../nftables-mode.js";
import { dropGroup, dropText, listenDrops } from "./drops-command.js";
import { type HitCount, hitsText, liveHits, liveNftHits } from "./hits-command.js";
import { type TraceOptions, tracerFor } from "./trace-command.js";

interface LiveOptions extends TraceOptions {
  live?: boolean;
  group?: string;
  ipv6?: boolean;
  iptablesBackend?: string;
}

async function nodeOf(o: LiveOptions, renderer?: RuleRenderer): Promise<NodeView> {
  if (!o.live) throw new UsageError("this view reads the kernel: pass --live");
  if (!o.nodeName) throw new UsageError("--node-name is required");
  const { tracer } = await tracerFor(o, undefined, renderer);
  return tracer.cluster.node(o.nodeName);
}

const options = (cmd: Command) =>
  cmd
    .requiredOption("--resources <dir>", "directory of manifests (*.yaml, *.yml, *.json)")
    .requiredOption("--node-name <node>", "this node")
    .option("--live", "read the kernel (required; needs root)")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .option("--log-level <level>", "log level", "warn")
    .addOption(new Option("--log-format <format>", "log format").choices(["json", "text"]));

export function livePolicyCommands(program: Command): void {
  options(program.command("drops").description("packets the kernel drops on the policy path, as they happen, and why"))
    .option("--group <n>", "NFLOG group (default: the node's dropNflogGroup)")
    .action(async (o: LiveOptions) => {
      const view = await nodeOf(o);
      const group = dropGroup(view, o.group);
      await listenDrops(
        view,
        group,
        (r) => process.stdout.write(o.output === "json" ? `${JSON.stringify(r)}\n` : dropText(r)),
        () => process.stderr.write(`listening for drops on NFLOG group ${group}\n`),
      );
    });
  options(program.command("hits").description("kernel packet/byte counters of the policy rules, per origin"))
    .option("--ipv6", "IPv6 counters (ip6tables, or the ip6 calico table)")
    .option("--iptables-backend <mode>", "legacy, nft or auto (default: $FELIX_IPTABLESBACKEND or auto)")
    .action(async (o: LiveOptions) => {
      if (!o.live) throw new UsageError("this view reads the kernel: pass --live");
      // nftables mode when our table of that family is here (the agent removes the other mode's state).
      const family = o.ipv6 ? "ip6" : "ip";
      const v = o.ipv6 ? 6 : 4;
      let hits: HitCount[];
      if (new RegExp(`^table ${family} calico$`, "m").test((await listNftTables()) ?? "")) {
        hits = await liveNftHits(await nodeOf(o, NFT_RULES), v);
      } else {
        const view = await nodeOf(o);
        const mode = await chooseBackend(o.iptablesBackend ?? process.env.FELIX_IPTABLESBACKEND);
        hits = await liveHits(view, mode, v);
      }
      process.stdout.write(o.output === "json" ? `${JSON.stringify(hits, null, 2)}\n` : hitsText(hits));
    });
}
