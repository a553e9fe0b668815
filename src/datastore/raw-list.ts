// LIST as the API server sends it, as raw JSON. The generated client's typed
// list calls rename fields (a NetworkPolicy peer's `from` becomes `_from`)
// and turn timestamps into Dates, while watch events arrive raw: listing raw
// keeps both paths identical to what the file datastore reads.

import * as http from "node:http";
import * as https from "node:https";
import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";

const PAGE = 500;

export class ApiError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

async function getJson(kc: KubeConfig, url: URL): Promise<unknown> {
  const opts: https.RequestOptions = { method: "GET", headers: { Accept: "application/json" } };
  await kc.applyToHTTPSOptions(opts);
  const mod = url.protocol === "http:" ? http : https;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) {
          reject(
            new ApiError(`GET ${url.pathname}: HTTP ${res.statusCode} ${body.slice(0, 200)}`, res.statusCode ?? 0),
          );
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(new Error(`GET ${url.pathname}: invalid JSON: ${(e as Error).message}`));
        }
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Lists a collection path (all pages), returning the items and the list's resourceVersion. */
export async function rawList(kc: KubeConfig, path: string): Promise<KubernetesListObject<KubernetesObject>> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("no current cluster in the kubeconfig");
  const items: KubernetesObject[] = [];
  let cont: string | undefined;
  let last: KubernetesListObject<KubernetesObject>;
  do {
    const url = new URL(server.replace(/\/$/, "") + path);
    url.searchParams.set("limit", String(PAGE));
    if (cont) url.searchParams.set("continue", cont);
    last = (await getJson(kc, url)) as KubernetesListObject<KubernetesObject>;
    items.push(...(last.items ?? []));
    cont = (last.metadata as { continue?: string } | undefined)?.continue || undefined;
  } while (cont);
  return { ...last, items };
}
