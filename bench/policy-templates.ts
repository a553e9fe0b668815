// The synthetic cluster's NetworkPolicies: a default-deny per namespace, and eight
// shapes rotated per namespace (app-to-app, named port, namespaceSelector +
// podSelector, ipBlock with except, egress to a db and DNS, egress ipBlock,
// matchExpressions, metrics from any namespace).

import type { NetworkPolicy } from "../model/k8s.js";
import type { Rng } from "./rng.js";
import { nodePodCidr } from "./scale-addresses.js";
import { ENVS, TEAMS, TIERS, VERSIONS } from "./scale-vocabulary.js";

/** What a template draws from: the apps per namespace and the nodes (for ipBlock excepts). */
export interface TemplateScope {
  readonly apps: number;
  readonly spec: { readonly nodes: number };
}

export function defaultDeny(ns: string, egressToo: boolean): NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "default-deny", namespace: ns },
    spec: { podSelector: {}, policyTypes: egressToo ? ["Ingress", "Egress"] : ["Ingress"] },
  };
}

/** Eight policy shapes, rotated per namespace. */
export function policyFromTemplate(
  t: number,
  ns: string,
  name: string,
  rng: Rng,
  c: TemplateScope,
  app = rng.int(c.apps),
): NetworkPolicy {
  const a = `app-${app}`;
  const other = `app-${(app + 1 + rng.int(c.apps - 1)) % c.apps}`;
  const other2 = `app-${(app + 1 + rng.int(c.apps - 1)) % c.apps}`;
  const tier = TIERS[rng.int(TIERS.length)];
  const spec = ((): NetworkPolicy["spec"] => {
    switch (t) {
      case 0: // app-to-app (a client app, and one version of another), numeric port
        return {
          podSelector: { matchLabels: { app: a } },
          ingress: [
            {
              from: [
                { podSelector: { matchLabels: { app: other } } },
                { podSelector: { matchLabels: { app: other2, version: VERSIONS[rng.int(VERSIONS.length)] } } },
              ],
              ports: [{ protocol: "TCP", port: 8080 }],
            },
          ],
        };
      case 1: // named port, from a tier of the same namespace
        return {
          podSelector: { matchLabels: { app: a } },
          ingress: [{ from: [{ podSelector: { matchLabels: { tier: "web" } } }], ports: [{ port: "http" }] }],
        };
      case 2: // namespaceSelector + podSelector (one peer: AND), or an app of the namespace
        return {
          podSelector: { matchLabels: { tier } },
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { env: ENVS[rng.int(ENVS.length)] } },
                  podSelector: { matchLabels: { app: other } },
                },
                { podSelector: { matchLabels: { app: other2 } } },
              ],
              ports: [
                { protocol: "TCP", port: 8080 },
                { protocol: "TCP", port: 9000 },
              ],
            },
          ],
        };
      case 3: // ipBlock with except; web pods of one team's namespaces
        return {
          podSelector: { matchLabels: { app: a } },
          ingress: [
            {
              from: [{ ipBlock: { cidr: "10.0.0.0/8", except: [nodePodCidr(rng.int(c.spec.nodes)), "10.96.0.0/12"] } }],
              ports: [{ protocol: "TCP", port: 443 }],
            },
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { team: `team-${rng.int(TEAMS)}` } },
                  podSelector: { matchLabels: { tier: "web" } },
                },
              ],
              ports: [{ protocol: "TCP", port: 8443 }],
            },
          ],
        };
      case 4: // egress: db and cache by named port, DNS to kube-system
        return {
          podSelector: { matchLabels: { app: a } },
          policyTypes: ["Egress"],
          egress: [
            { to: [{ podSelector: { matchLabels: { tier: "db" } } }], ports: [{ port: "postgres" }] },
            { to: [{ podSelector: { matchLabels: { tier: "cache" } } }], ports: [{ port: "redis" }] },
            {
              to: [
                {
                  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
                  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
                },
              ],
              ports: [
                { protocol: "UDP", port: 53 },
                { protocol: "TCP", port: 53 },
              ],
            },
          ],
        };
      case 5: // egress ipBlock with except (the internet but not the metadata service or pods), an app by named port
        return {
          podSelector: { matchLabels: { tier } },
          policyTypes: ["Egress"],
          egress: [
            {
              to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.169.254/32", "10.64.0.0/10"] } }],
              ports: [
                { protocol: "TCP", port: 443 },
                { protocol: "TCP", port: 80 },
              ],
            },
            { to: [{ podSelector: { matchLabels: { app: other } } }], ports: [{ port: "http" }] },
          ],
        };
      case 6: // matchExpressions, from the front tiers of some teams' namespaces
        return {
          podSelector: {
            matchExpressions: [
              { key: "app", operator: "In", values: [a, other] },
              { key: "version", operator: "In", values: ["v1", "v2"] },
            ],
          },
          ingress: [
            {
              from: [
                {
                  namespaceSelector: {
                    matchExpressions: [
                      { key: "team", operator: "In", values: [`team-${rng.int(TEAMS)}`, `team-${rng.int(TEAMS)}`] },
                    ],
                  },
                  podSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["web", "api"] }] },
                },
              ],
            },
          ],
        };
      default: // metrics from a scraper app in any namespace, or an app of the namespace
        return {
          podSelector: {},
          ingress: [
            {
              from: [
                { namespaceSelector: {}, podSelector: { matchLabels: { app: a } } },
                { podSelector: { matchLabels: { app: other } } },
              ],
              ports: [{ port: "metrics" }],
            },
          ],
        };
    }
  })();
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: ns },
    spec,
  };
}
