// Where the API server is and how to authenticate, without loading
// @kubernetes/client-node: that library costs ~88 MB of RSS and ~0.7 s of
// start-up, for a DaemonSet that needs a URL, a CA, and a token (in-cluster)
// or a client certificate. The kubeconfig subset read here: a cluster's
// server, certificate-authority(-data), insecure-skip-tls-verify,
// tls-server-name; a user's token, tokenFile, client-certificate(-data),
// client-key(-data). A kubeconfig asking for more (exec or auth-provider
// plugins, basic auth, impersonation, a proxy) is handed to client-node's
// KubeConfig, loaded only then: nothing a user relied on stops working.

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type * as https from "node:https";
import { dirname, isAbsolute, join } from "node:path";
import { load } from "js-yaml";

/** What a request to the API server needs (client-node's KubeConfig has the same two methods). */
export interface KubeAccess {
  getCurrentCluster(): { readonly server: string } | null;
  /** Sets TLS options and credentials on a request's options. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface Access {
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecure?: boolean;
  readonly serverName?: string;
  readonly token?: string;
  /** Read at every request: bound service-account tokens are rotated by the kubelet. */
  readonly tokenFile?: string;
}

class StaticAccess implements KubeAccess {
  constructor(private readonly a: Access) {}

  getCurrentCluster() {
    return { server: this.a.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    // A bearer token over plain HTTP goes to anyone on the path: only when TLS checks are off on purpose.
    if (this.a.server.startsWith("http:") && !this.a.insecure)
      throw new Error("HTTP protocol is not allowed when skipTLSVerify is not set or false");
    if (this.a.ca) opts.ca = this.a.ca;
    if (this.a.cert) opts.cert = this.a.cert;
    if (this.a.key) opts.key = this.a.key;
    if (this.a.serverName) opts.servername = this.a.serverName;
    opts.rejectUnauthorized = !this.a.insecure;
    const token = this.a.tokenFile ? (await readFile(this.a.tokenFile, "utf8")).trim() : this.a.token;
    if (token) opts.headers = { ...(opts.headers as Record<string, string>), Authorization: `Bearer ${token}` };
  }
}

type Named<T> = { name?: string } & T;
interface KubeconfigFile {
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
  "current-context"?: string;
}

const CLUSTER_FIELDS = new Set([
  "server",
  "certificate-authority",
  "certificate-authority-data",
  "insecure-skip-tls-verify",
  "tls-server-name",
  "extensions",
]);
const USER_FIELDS = new Set([
  "token",
  "tokenFile",
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
  "extensions",
]);

/**
 * The access a kubeconfig file describes, or undefined when it uses what only
 * client-node implements. Throws on a file without a usable current cluster.
 */
export function accessFromKubeconfig(file: string, text: string): Access | undefined {
  const doc = (load(text) ?? {}) as KubeconfigFile;
  const byName = <T>(list: Named<T>[] | undefined, name: string | undefined) =>
    (list ?? []).find((e) => e?.name === name);
  const context = byName(doc.contexts, doc["current-context"])?.context;
  const cluster = byName(doc.clusters, context?.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== "string" || cluster.server === "")
    throw new Error(`no cluster in kubeconfig ${file}`);
  const user = (context?.user ? byName(doc.users, context.user)?.user : undefined) ?? {};
  if (Object.keys(cluster).some((k) => !CLUSTER_FIELDS.has(k))) return undefined;
  if (Object.keys(user).some((k) => !USER_FIELDS.has(k))) return undefined;
  const base = dirname(file);
  const bytes = (data: unknown, path: unknown): Buffer | undefined => {
    if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
    if (typeof path === "string" && path !== "") return readFileSync(isAbsolute(path) ? path : join(base, path));
    return undefined;
  };
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const tokenFile = str(user.tokenFile);
  return {
    server: cluster.server,
    ca: bytes(cluster["certificate-authority-data"], cluster["certificate-authority"]),
    cert: bytes(user["client-certificate-data"], user["client-certificate"]),
    key: bytes(user["client-key-data"], user["client-key"]),
    insecure: cluster["insecure-skip-tls-verify"] === true,
    serverName: str(cluster["tls-server-name"]),
    token: str(user.token),
    tokenFile: tokenFile && !isAbsolute(tokenFile) ? join(base, tokenFile) : tokenFile,
  };
}

/** The pod's own service account, as the kubelet mounts it. */
export function inClusterAccess(env: NodeJS.ProcessEnv, dir = SA_DIR): Access {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error("no cluster in the in-cluster config (KUBERNETES_SERVICE_HOST/PORT unset)");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(dir, "ca.crt")),
    tokenFile: join(dir, "token"),
  };
}

/** In-cluster config by default; a kubeconfig file when given (flag or KUBECONFIG). */
export async function loadKubeAccess(
  kubeconfig: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeAccess> {
  const file = kubeconfig ?? env.KUBECONFIG;
  if (!file) return new StaticAccess(inClusterAccess(env));
  const access = accessFromKubeconfig(file, readFileSync(file, "utf8"));
  if (access) return new StaticAccess(access);
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(file);
  if (!kc.getCurrentCluster()) throw new Error(`no cluster in kubeconfig ${file}`);
  return kc;
}
