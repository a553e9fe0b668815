#!/usr/bin/env node
// The LIST of a whole cluster, timed on its own: every kind the Kubernetes
// datastore watches, in pages of 500, all kinds at once (as the agent lists
// them), each reply parsed and dropped. The target for the agent's
// cold start is 1.5 × the kernel-write floor + this. Run inside the node's
// namespace: `node dist/bench/list-time.js <kubeconfig>`; prints
// `{"ms": …, "objects": …}`.

import { loadKubeAccess } from "../src/datastore/kube-config.js";
import { apiUrl, type KubeList, listPage } from "../src/datastore/kube-request.js";
import { WATCHED } from "../src/datastore/kubernetes.js";

const kubeconfig = process.argv[2];
if (!kubeconfig) {
  process.stderr.write("usage: list-time <kubeconfig>\n");
  process.exit(2);
}
const kc = await loadKubeAccess(kubeconfig, {});
const signal = new AbortController().signal;
let objects = 0;
const t0 = performance.now();
await Promise.all(
  WATCHED.map(async (spec) => {
    let cont: string | undefined;
    do {
      const query: Record<string, string> = { limit: "500", ...(cont ? { continue: cont } : {}) };
      const page = await listPage(kc, apiUrl(kc, spec.path, query), signal).catch(
        (e: { statusCode?: number }): KubeList => {
          if (spec.optional && e.statusCode === 404) return {};
          throw e;
        },
      );
      objects += page.items?.length ?? 0;
      cont = page.metadata?.continue || undefined;
    } while (cont);
  }),
);
process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, objects })}\n`);
