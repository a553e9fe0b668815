/**
 * Kubeconfig helpers for FakeApiServer.
 *
 * client-node 1.4.0 refuses a plain `http://` cluster unless skipTLSVerify is set
 * ("HTTP protocol is not allowed when skipTLSVerify is not set or false"), so both helpers set it.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

export interface KubeconfigTarget {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
}

export interface KubeconfigOptions {
  /** Bearer token for the user (default "fake-token"). */
  token?: string;
  /** Default namespace of the context. */
  namespace?: string;
  /** Name used for the cluster, user and context (default "fake"). */
  name?: string;
}

/** The object for `new KubeConfig().loadFromOptions(...)`. */
export function kubeConfigObject(server: KubeconfigTarget, opts: KubeconfigOptions = {}) {
  const name = opts.name ?? "fake";
  return {
    clusters: [{ name, server: server.url, skipTLSVerify: true }],
    users: [{ name: `${name}-user`, token: opts.token ?? "fake-token" }],
    contexts: [
      {
        name,
        cluster: name,
        user: `${name}-user`,
        ...(opts.namespace ? { namespace: opts.namespace } : {}),
      },
    ],
    currentContext: name,
  };
}

/**
 * Write a kubeconfig YAML file for the server into a fresh temp directory (or `dir`) and return its path.
 * Load it with `kc.loadFromFile(path)` or pass it to a CLI as --kubeconfig / KUBECONFIG.
 */
export function kubeconfigFor(server: KubeconfigTarget, opts: KubeconfigOptions & { dir?: string } = {}): string {
  const name = opts.name ?? "fake";
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server: server.url, "insecure-skip-tls-verify": true } }],
    users: [{ name: `${name}-user`, user: { token: opts.token ?? "fake-token" } }],
    contexts: [
      {
        name,
        context: { cluster: name, user: `${name}-user`, ...(opts.namespace ? { namespace: opts.namespace } : {}) },
      },
    ],
    "current-context": name,
    preferences: {},
  };
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "fake-apiserver-"));
  const path = join(dir, "kubeconfig");
  writeFileSync(path, stringify(doc), { mode: 0o600 });
  return path;
}
