#!/usr/bin/env node
// felix-dump: prints what the calculation graph decides for a node, from a
// directory of manifests. Needs no root and no kernel.

import { readFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { withStagedEnforced } from "../../calc-graph/staged.js";
import { chooseBackend } from "../../iptables/detect.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { renderNftTable } from "../../nftables/table-text.js";
import { endpointStatusConfigFromEnv } from "../../status/endpoint-status-file.js";
import { graphConfigFromEnv } from "../config.js";
import { readManifestDir } from "../datastore/manifests.js";
import { configJson, configText } from "../dump/config.js";
import { ipvsJson, ipvsText } from "../dump/ipvs.js";
import type { LiveDifference } from "../dump/live-diff.js";
import { livePolicyCommands } from "../dump/live-policy-commands.js";
import { mtuCommand } from "../dump/mtu-command.js";
import { nodeAddresses } from "../dump/node-addresses.js";
import { explainPolicies, policiesText } from "../dump/policies.js";
import { servicesText, serviceViews } from "../dump/services.js";
import { traceCommand } from "../dump/trace-command.js";
import * as views from "../dump/views.js";
import { whatIfCommand } from "../dump/whatif-command.js";
import { ipvsOptionsFromEnv } from "../ipvs-config.js";
import { createLogger, type LogFormat } from "../log.js";
import { kubeProxyNftPresent, listNftTables, NftablesModeSetting, resolveNftablesMode } from "../nftables-mode.js";
import { loadRuleRenderer, type RuleDataplane } from "../rule-renderers.js";
import { runProgram, SilentFailure, UsageError } from "./errors.js";

interface CommonOptions {
  resources: string;
  nodeName: string;
  output: "text" | "json";
  ipv6?: boolean;
  logLevel: string;
  logFormat?: LogFormat;
}

async function load(o: CommonOptions, dataplane: RuleDataplane = "iptables"): Promise<DesiredState> {
  return (await loadWithInput(o, undefined, dataplane)).state;
}

/**
 * The state, and the updates it came from. `services` computes proxy mode off
 * as iptables mode (nothing to show otherwise); `ipvs` always computes proxy
 * mode ipvs. `proxyModeOff` tells that a mode other than the configured one was used.
 */
async function loadWithInput(
  o: CommonOptions,
  view?: "services" | "ipvs",
  dataplane: RuleDataplane = "iptables",
): Promise<{ state: DesiredState; updates: ResourceUpdate[]; proxyModeOff: boolean }> {
  let log: ReturnType<typeof createLogger>;
  let cfg: ReturnType<typeof graphConfigFromEnv>;
  try {
    log = createLogger(o.logLevel, o.logFormat ?? "text");
    const base = graphConfigFromEnv(o.nodeName, process.env);
    // kube-proxy's nftables layout exists only as nft rules: every view of that mode renders them.
    cfg = { ...base, ruleRenderer: await loadRuleRenderer(base.proxyMode === "nftables" ? "nftables" : dataplane) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let parsed: Awaited<ReturnType<typeof readManifestDir>>;
  try {
    parsed = await readManifestDir(o.resources);
  } catch (e) {
    throw new UsageError(`cannot read --resources ${o.resources}: ${(e as Error).message}`);
  }
  for (const p of parsed.problems) log.warn({ file: p.file, line: p.line }, p.message);
  for (const i of parsed.ignored) log.debug({ file: i.file, line: i.line }, `ignoring kind ${i.kind}`);
  let proxyModeOff = false;
  try {
    if (view === "services" && cfg.proxyMode === "off") {
      cfg = { ...cfg, proxyMode: "iptables" };
      proxyModeOff = true;
    } else if (view === "ipvs" && cfg.proxyMode !== "ipvs") {
      cfg = { ...cfg, proxyMode: "ipvs", ipvs: ipvsOptionsFromEnv(process.env) };
      proxyModeOff = true;
    }
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const state = computeDesiredState(cfg, parsed.updates);
  for (const p of Object.values(state.problems)) {
    log.warn({ resource: p.key, file: p.source?.file, line: p.source?.line }, p.message);
  }
  return { state, updates: parsed.updates, proxyModeOff };
}

/** FELIX_IPV6SUPPORT (default true): whether the agent programs IPv6. */
function ipv6Enabled(): boolean {
  return !/^(false|0|no|off)$/i.test(process.env.FELIX_IPV6SUPPORT ?? "");
}

function print(o: CommonOptions, text: () => string, json: () => unknown): void {
  process.stdout.write(o.output === "json" ? `${JSON.stringify(json(), null, 2)}\n` : text());
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption("--resources <dir>", "directory of manifests (*.yaml, *.yml, *.json)")
    .requiredOption("--node-name <node>", "the node whose dataplane to compute")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .option("--log-level <level>", "log level", "warn")
    .addOption(new Option("--log-format <format>", "log format").choices(["json", "text"]));
}

export function buildProgram(): Command {
  const program = new Command("felix-dump")
    .description("Print the dataplane felix-ts computes for a node, from a directory of manifests (no root needed).")
    .exitOverride() // before the subcommands, which inherit it
    .showHelpAfterError();

  const family = (o: CommonOptions) => (o.ipv6 ? 6 : 4);
  common(program.command("iptables").description("the desired rules as iptables-restore input"))
    .option("--ipv6", "IPv6 (ip6tables) rules")
    .action(async (o: CommonOptions) => {
      if (process.env.FELIX_PROXYMODE?.trim() === "nftables") {
        throw new UsageError("FELIX_PROXYMODE=nftables runs only in the nftables dataplane: see felix-dump nftables");
      }
      const s = await load(o);
      print(
        o,
        () => views.iptablesText(s, family(o)),
        () => views.iptablesJson(s, family(o)),
      );
    });
  common(program.command("nftables").description("the desired nftables dataplane as nft -f input (our calico tables)"))
    .addOption(new Option("--family <family>", "only this family's table").choices(["ip", "ip6"]))
    .action(async (o: CommonOptions & { family?: "ip" | "ip6" }) => {
      const s = await load(o, "nftables");
      const families = o.family ? [o.family] : ipv6Enabled() ? (["ip", "ip6"] as const) : (["ip"] as const);
      const tables = families.map((f) => [
        f,
        renderNftTable(f, s.iptables[f === "ip" ? "ipv4" : "ipv6"], s.ipsets, s.nftObjects),
      ]);
      print(
        o,
        () => tables.map(([, t]) => t).join("\n"),
        () => ({ tables: Object.fromEntries(tables) }),
      );
    });
  common(program.command("ipsets").description("the desired IP sets as ipset restore input"))
    .option("--ipv6", "IPv6 sets")
    .action(async (o: CommonOptions) => {
      const s = await load(o);
      print(
        o,
        () => views.ipsetsText(s, family(o)),
        () => views.ipsetsJson(s, family(o)),
      );
    });
  common(program.command("endpoints").description("this node's workload and host endpoints"))
    .option("--live", "also the running agent's per-endpoint status (from its status file)")
    .action(async (o: CommonOptions & { live?: boolean }) => {
      const s = await load(o);
      if (!o.live) {
        print(
          o,
          () => views.endpointsText(s),
          () => views.endpointsJson(s),
        );
        return;
      }
      const path = endpointStatusConfigFromEnv(process.env).path;
      let live: Record<string, { status: string; reason: string }>;
      try {
        live = (JSON.parse(await readFile(path, "utf8")) as { endpoints: typeof live }).endpoints;
      } catch (e) {
        throw new UsageError(
          `cannot read the agent's endpoint status ${path} (is felix running?): ${(e as Error).message}`,
        );
      }
      print(
        o,
        () => views.endpointsLiveText(s, live),
        () => ({ endpoints: views.endpointsJson(s), status: live }),
      );
    });
  common(program.command("policies").description("the policies that apply to a local pod, in order"))
    .argument("<namespace/pod>", "the pod")
    .action(async (pod: string, o: CommonOptions) => {
      const { state: s, updates } = await loadWithInput(o);
      // Staged policies: the same graph with them enforced, to show what they would change.
      const staged = updates.some((u) => u.kind.startsWith("Staged"))
        ? computeDesiredState(graphConfigFromEnv(o.nodeName, process.env), withStagedEnforced(updates))
        : undefined;
      let e: ReturnType<typeof explainPolicies>;
      try {
        e = explainPolicies(s, pod, staged);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      print(
        o,
        () => policiesText(e),
        () => e,
      );
    });
  const offNote = (off: boolean) =>
    off ? "# FELIX_PROXYMODE is off: shown as the iptables proxy mode would program it\n" : "";
  common(
    program.command("services").description("each service port → frontends → endpoints, as the engine sees them"),
  ).action(async (o: CommonOptions) => {
    const { state, updates, proxyModeOff } = await loadWithInput(o, "services");
    const views = serviceViews(state, nodeAddresses(updates, o.nodeName));
    print(
      o,
      () => offNote(proxyModeOff) + servicesText(views),
      () => views,
    );
  });
  traceCommand(
    program
      .command("trace")
      .description(
        "trace a new connection through the rules felix-ts renders, across nodes: verdict, every rule hit and its origin, NAT",
      )
      .requiredOption("--resources <dir>", "directory of manifests (*.yaml, *.yml, *.json)")
      .option("--node-name <node>", "trace only on this node (default: the client's node, then the server's)")
      .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
      .option("--log-level <level>", "log level", "warn")
      .addOption(new Option("--log-format <format>", "log format").choices(["json", "text"])),
  );
  whatIfCommand(
    program
      .command("whatif")
      .description("the pod pairs whose reachability a policy change would change, traced before and after")
      .requiredOption("--resources <dir>", "directory of manifests (*.yaml, *.yml, *.json)")
      .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
      .option("--log-level <level>", "log level", "warn")
      .addOption(new Option("--log-format <format>", "log format").choices(["json", "text"])),
  );
  livePolicyCommands(program);
  common(program.command("routes").description("the desired routes")).action(async (o: CommonOptions) => {
    const s = await load(o);
    print(
      o,
      () => views.routesText(s),
      () => views.routesJson(s),
    );
  });
  common(program.command("sysctls").description("the desired sysctls")).action(async (o: CommonOptions) => {
    const s = await load(o);
    print(
      o,
      () => views.sysctlsText(s),
      () => views.sysctlsJson(s),
    );
  });
  common(
    program.command("config").description("the FelixConfiguration/env settings in force, and ignored fields"),
  ).action(async (o: CommonOptions) => {
    const s = await load(o);
    print(
      o,
      () => configText(s),
      () => configJson(s),
    );
  });
  common(program.command("ipvs").description("the desired IPVS table (proxy mode ipvs), in ipvsadm -Ln layout")).action(
    async (o: CommonOptions) => {
      const { state, proxyModeOff } = await loadWithInput(o, "ipvs");
      const note = proxyModeOff
        ? `# FELIX_PROXYMODE is ${process.env.FELIX_PROXYMODE?.trim() || "off"}: shown as the ipvs proxy mode would program it\n`
        : "";
      print(
        o,
        () => note + ipvsText(state),
        () => ipvsJson(state),
      );
    },
  );
  mtuCommand(
    common(program.command("mtu").description("tunnel and pod MTUs (host MTU from this namespace)")),
    load,
    print,
  );
  common(program.command("diff").description("compare with the kernel of this network namespace (needs root)"))
    .option("--live", "read the kernel (required)")
    .option("--iptables-backend <mode>", "legacy, nft or auto (default: $FELIX_IPTABLESBACKEND or auto)")
    .option("--nftables-mode <mode>", "Enabled, Disabled or Auto (default: $FELIX_NFTABLESMODE, else Auto)")
    .action(async (o: CommonOptions & { live?: boolean; iptablesBackend?: string; nftablesMode?: string }) => {
      if (!o.live) throw new UsageError("diff compares with the kernel: pass --live");
      let setting: NftablesModeSetting;
      try {
        setting = new NftablesModeSetting(o.nodeName, {
          FELIX_NFTABLESMODE: o.nftablesMode ?? process.env.FELIX_NFTABLESMODE,
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const { state: s, updates } = await loadWithInput(o);
      setting.update(updates);
      // Auto: as the agent decides it, or the dataplane whose tables of ours are here (the agent's env may differ).
      const tables = await listNftTables();
      const dataplane = resolveNftablesMode(
        setting.value,
        kubeProxyNftPresent(tables) || /^table ip calico$/m.test(tables ?? ""),
      );
      // The kernel readers (netlink among them) load here: no other command needs them.
      const [{ liveDiff, liveDiffText }, { liveDiffExtra }, { liveDiffNft }] = await Promise.all([
        import("../dump/live-diff.js"),
        import("../dump/live-diff-kernel.js"),
        import("../dump/live-diff-nft.js"),
      ]);
      let diffs: LiveDifference[];
      try {
        if (dataplane === "nftables") {
          const n = await load(o, "nftables");
          diffs = [...(await liveDiffNft(n, ipv6Enabled())), ...(await liveDiffExtra(n))];
        } else {
          const mode = await chooseBackend(o.iptablesBackend ?? process.env.FELIX_IPTABLESBACKEND);
          diffs = await liveDiff(s, { mode, extra: liveDiffExtra });
        }
      } catch (e) {
        throw new UsageError(`cannot read the kernel: ${(e as Error).message}`);
      }
      print(
        o,
        () => liveDiffText(diffs),
        () => ({ inSync: diffs.length === 0, differences: diffs }),
      );
      if (diffs.length > 0) throw new SilentFailure(); // out of sync: exit 1
    });
  return program;
}

export function main(argv: string[]): Promise<number> {
  return runProgram("felix-dump", buildProgram(), argv);
}

process.exitCode = await main(process.argv.slice(2));
