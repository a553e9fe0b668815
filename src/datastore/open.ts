// The agent's datastore from its flags: the file datastore (watching unless
// --once) or the Kubernetes API server.

import type { Logger } from "pino";
import type { ResourceUpdate } from "../../model/resource.js";
import type { Observable } from "../../model/rx.js";
import type { Metrics } from "../../status/metrics.js";
import { UsageError } from "../cli/errors.js";
import { FileDatastore } from "./file-datastore.js";
import type { KubeAccess } from "./kube-config.js";

export interface DatastoreFlags {
  readonly datastore: "file" | "kubernetes";
  readonly resources?: string;
  readonly kubeconfig?: string;
  readonly once?: boolean;
  /** The Kubernetes datastore lists the FelixConfigurations before the other kinds (KubernetesDatastore.updates). */
  readonly configFirst?: boolean;
  /** The file datastore parses the files of these kinds first (src/nat-first.ts). */
  readonly ahead?: ReadonlySet<string>;
}

export interface OpenDatastore {
  readonly updates: Observable<ResourceUpdate[]>;
  /** The Kubernetes datastore's config (node status reporting uses it too). */
  readonly kubeConfig?: KubeAccess;
}

export async function openDatastore(
  o: DatastoreFlags,
  log: Logger,
  metrics: Metrics,
  maxFileBytes: number,
): Promise<OpenDatastore> {
  if (o.datastore === "kubernetes") {
    const [{ KubernetesDatastore }, { loadKubeAccess }] = await Promise.all([
      import("./kubernetes.js"),
      import("./kube-config.js"),
    ]);
    let kubeConfig: KubeAccess;
    try {
      kubeConfig = await loadKubeAccess(o.kubeconfig);
    } catch (e) {
      throw new UsageError(`kubernetes config: ${(e as Error).message}`);
    }
    const updates = new KubernetesDatastore({
      kubeConfig,
      log: log.child({ component: "datastore" }),
      onEvent: (e) => {
        if (e.what === "restart") metrics.resyncsStarted.inc();
      },
    }).updates({ partial: true, configFirst: o.configFirst }); // in parts, as the LIST pages come (batch.ts)
    return { updates, kubeConfig };
  }
  const updates = new FileDatastore({
    dir: o.resources!,
    watch: !o.once,
    maxFileBytes,
    onProblem: (p) => log.warn({ component: "datastore", file: p.file, line: p.line }, p.message),
    onIgnored: (i) => log.debug({ component: "datastore", file: i.file, line: i.line }, `ignoring kind ${i.kind}`),
  }).updates({ partial: true, ahead: o.ahead }); // the first batch in parts, one per file (datastore/batch.ts)
  return { updates };
}
