// The agent's own kubeconfig reader (src/datastore/kube-config.ts): the
// in-cluster service account (its token re-read, as the kubelet rotates it),
// a kubeconfig's certificates by path (relative to the file) or data, no
// bearer token over plain HTTP unless TLS checks are off on purpose, and
// anything else handed to client-node's KubeConfig.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { dump } from "js-yaml";
import { accessFromKubeconfig, inClusterAccess, loadKubeAccess } from "../../../src/datastore/kube-config.js";

const dir = mkdtempSync(join(tmpdir(), "kube-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const kubeconfig = (cluster: object, user: object) => ({
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: "c", cluster }],
  users: [{ name: "u", user }],
  contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
  "current-context": "x",
});

async function optionsOf(file: string, env: NodeJS.ProcessEnv = {}): Promise<https.RequestOptions> {
  const opts: https.RequestOptions = { headers: { Accept: "application/json" } };
  await (await loadKubeAccess(file, env)).applyToHTTPSOptions(opts);
  return opts;
}

describe("kubeconfig and in-cluster access without client-node", () => {
  test("in cluster: the service account's CA, the token re-read at every request, an IPv6 service host", async () => {
    const sa = mkdtempSync(join(dir, "sa-"));
    writeFileSync(join(sa, "ca.crt"), "CA-PEM");
    writeFileSync(join(sa, "token"), "first\n");
    const env = { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" };
    const access = inClusterAccess(env, sa);
    assert.equal(access.server, "https://[fd00::1]:443");
    assert.equal(access.ca?.toString(), "CA-PEM");
    assert.equal(access.tokenFile, join(sa, "token"));
    assert.throws(() => inClusterAccess({}, sa), /KUBERNETES_SERVICE_HOST/);
  });

  test("a kubeconfig: CA and client certificate by relative path or data, a token file re-read", async () => {
    writeFileSync(join(dir, "ca.pem"), "CA");
    writeFileSync(join(dir, "tok"), "one");
    const file = join(dir, "paths.yaml");
    writeFileSync(
      file,
      dump(
        kubeconfig(
          { server: "https://api.example:6443", "certificate-authority": "ca.pem", "tls-server-name": "kubernetes" },
          {
            tokenFile: "tok",
            "client-certificate-data": Buffer.from("CERT").toString("base64"),
            "client-key-data": Buffer.from("KEY").toString("base64"),
          },
        ),
      ),
    );
    let o = await optionsOf(file);
    assert.equal(String(o.ca), "CA");
    assert.equal(String(o.cert), "CERT");
    assert.equal(String(o.key), "KEY");
    assert.equal(o.servername, "kubernetes");
    assert.equal(o.rejectUnauthorized, true);
    assert.deepEqual(o.headers, { Accept: "application/json", Authorization: "Bearer one" });
    writeFileSync(join(dir, "tok"), "two");
    o = await optionsOf(file);
    assert.equal((o.headers as Record<string, string>).Authorization, "Bearer two", "the rotated token");
  });

  test("no bearer token over plain HTTP unless insecure-skip-tls-verify says so", async () => {
    const plain = join(dir, "plain.yaml");
    writeFileSync(plain, dump(kubeconfig({ server: "http://127.0.0.1:8080" }, { token: "secret" })));
    await assert.rejects(optionsOf(plain), /HTTP protocol is not allowed/);
    const insecure = join(dir, "insecure.yaml");
    writeFileSync(
      insecure,
      dump(kubeconfig({ server: "http://127.0.0.1:8080", "insecure-skip-tls-verify": true }, { token: "t" })),
    );
    const o = await optionsOf(insecure);
    assert.equal(o.rejectUnauthorized, false);
  });

  test("a kubeconfig without a current cluster is refused", () => {
    assert.throws(() => accessFromKubeconfig("f", dump({ clusters: [], contexts: [] })), /no cluster in kubeconfig f/);
    assert.throws(() => accessFromKubeconfig("f", ""), /no cluster/);
  });

  test("an exec plugin, basic auth or a proxy: handed to client-node's KubeConfig", async () => {
    const exec = { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "true" } };
    for (const [cluster, user] of [
      [{ server: "https://a:6443" }, exec],
      [{ server: "https://a:6443" }, { username: "u", password: "p" }],
      [{ server: "https://a:6443", "proxy-url": "http://proxy:3128" }, { token: "t" }],
    ] as const) {
      assert.equal(accessFromKubeconfig("f", dump(kubeconfig(cluster, user))), undefined);
    }
    const file = join(dir, "exec.yaml");
    writeFileSync(file, dump(kubeconfig({ server: "https://a:6443" }, exec)));
    const access = await loadKubeAccess(file, {});
    assert.equal(access.constructor.name, "KubeConfig");
    assert.equal(access.getCurrentCluster()?.server, "https://a:6443");
  });
});
