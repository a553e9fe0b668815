# syntax=docker/dockerfile:1
#
# felix-ts node agent image.
#
#   docker build -t felix-ts:dev .
#
# Runs as root with the host's network namespace (see deploy/felix-ts.yaml);
# needs the iptables (legacy and nft), ipset and iproute2 user-space tools.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install every dependency, compile TypeScript, drop dev deps ------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Sources and lockfile (.dockerignore keeps node_modules, dist and .git out).
# `npm ci` runs the prepare script (tsc -p .), which compiles src/ and the
# test/ and bench/ trees listed in tsconfig.json, so all of them are copied.
# netlink's native addon ships prebuilt binaries for linux x64/arm64/arm, so
# no compiler is needed here.
COPY . .
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/bench \
 && test -f dist/src/cli/felix.js \
 && test -f dist/src/cli/felix-dump.js

# ---- runtime -----------------------------------------------------------------
FROM ${NODE_IMAGE}
# iptables: iptables-{legacy,nft}-{save,restore} and ip6tables-*; the agent
#           calls the backend-specific names, so the alternatives setting does
#           not matter.
# kmod:     modprobe, which iptables-legacy runs to load ip_tables & co. when
#           the node has not loaded them yet (with /lib/modules mounted).
# conntrack: clears a deleted pod's flows before its address is reused.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iptables ipset iproute2 nftables kmod conntrack \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app
# package.json is needed at run time: its "type": "module" makes dist/*.js ESM.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Node-side clean-up after uninstalling (see deploy/README.md).
COPY deploy/felix-ts-cleanup.sh /usr/local/bin/felix-ts-cleanup
RUN chmod 0755 /usr/local/bin/felix-ts-cleanup dist/src/cli/felix.js dist/src/cli/felix-dump.js \
 && ln -s /app/dist/src/cli/felix.js /usr/local/bin/felix \
 && ln -s /app/dist/src/cli/felix-dump.js /usr/local/bin/felix-dump

# The bin itself: its shebang carries the agent's node flags (src/cli/node-flags.ts).
ENTRYPOINT ["/app/dist/src/cli/felix.js"]
CMD ["--datastore", "kubernetes"]
