// `felix-dump mtu`: the tunnel devices' and pods' MTU as the agent would set
// them. The host MTU is read from this network namespace's interfaces (no
// root needed), or given with --host-mtu.

import type { Command } from "commander";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { DEFAULT_HOST_MTU } from "../../ifaces/tunnel.js";
import { IpTunnelLinks } from "../../ifaces/tunnel-links.js";
import { UsageError } from "../cli/errors.js";
import { agentConfigFromEnv } from "../config.js";
import { mtuText, mtuView } from "./network.js";

interface MtuOptions {
  hostMtu?: string;
}

export function mtuCommand<O extends object>(
  cmd: Command,
  load: (o: O) => Promise<DesiredState>,
  print: (o: O, text: () => string, json: () => unknown) => void,
): Command {
  return cmd
    .option("--host-mtu <n>", "the host MTU (default: detected from this namespace's interfaces)")
    .action(async (o: O & MtuOptions) => {
      const s = await load(o);
      let host: number;
      let source: string;
      if (o.hostMtu !== undefined) {
        host = Number(o.hostMtu);
        if (!Number.isInteger(host) || host < 68) throw new UsageError(`--host-mtu must be an MTU, not ${o.hostMtu}`);
        source = "--host-mtu";
      } else {
        const found = await new IpTunnelLinks().smallestMtu(s.network.mtu.ifacePattern).catch(() => undefined);
        host = found ?? DEFAULT_HOST_MTU;
        source =
          found === undefined
            ? "no interface matches mtuIfacePattern: default"
            : "smallest up interface matching mtuIfacePattern";
      }
      const file = agentConfigFromEnv(process.env).mtuFilePath ?? "/var/lib/calico/mtu";
      const view = mtuView(s, host, source, file);
      print(
        o,
        () => mtuText(view),
        () => view,
      );
    });
}
