# syntax=docker/dockerfile:1
# The single Grove image: `grove operator`, `grove manager`, `grove relay` (the entry point is
# `grove`, so a pod's args are its command line), and `redis-server` for the operator's built-in
# Redis StatefulSet (command: redis-server). docs/helm.md explains how to build and use it.
#
#   docker build -t grove:0.1.0 .
#   docker build --build-arg BASE_IMAGE=debian:12-slim -t grove:0.1.0 .
#
# Both stages start from BASE_IMAGE, so the Node.js binary built by the first runs on the
# second's libc. Everything is downloaded at build time; the image downloads nothing at runtime.

ARG BASE_IMAGE=debian:12-slim

# ---- build: npm ci, TypeScript -> dist/, then production dependencies only ----
FROM ${BASE_IMAGE} AS build
# Debian's nodejs and npm only bootstrap `npm ci`: the project pins Node.js 24 as an npm
# dependency (node_modules/node), which compiles the sources and runs in the image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused until package.json or the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && node_modules/.bin/node dist/bin/grove-cli.js --help >/dev/null \
 && mkdir -p /opt/grove/bin \
 && cp node_modules/node/bin/node /opt/grove/bin/node \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime ----
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libstdc++6 redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 grove \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin grove
COPY --from=build /opt/grove/bin/node /usr/local/bin/node
WORKDIR /app
# package.json: "type": "module" makes Node load dist/ as ES modules.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The Manager's web UI: static files the compiler does not emit.
COPY --from=build /src/manager/ui/dist ./dist/manager/ui/dist
# exec: node replaces the shell, so it is PID 1 and gets the kubelet's SIGTERM. A relay runs
# with a small young generation (contracts/relay-v8-flags.ts: RELAY_V8_FLAGS).
RUN printf '#!/bin/sh\ncase "$1" in\n  relay) exec /usr/local/bin/node --max-semi-space-size=8 /app/dist/bin/grove-cli.js "$@" ;;\nesac\nexec /usr/local/bin/node /app/dist/bin/grove-cli.js "$@"\n' \
      > /usr/local/bin/grove \
 && chmod 0755 /usr/local/bin/grove \
 && grove --help >/dev/null \
 && redis-server --version
ENV NODE_ENV=production
# Numeric, so the kubelet can verify runAsNonRoot.
USER 10001:10001
ENTRYPOINT ["grove"]
CMD ["--help"]
