# syntax=docker/dockerfile:1

# One image for both Settle processes: `node dist/workers/main.js` (npm run worker) and
# `node dist/api/main.js` (npm run api). Debian, not Alpine: Temporal's native worker bridge is built for glibc.
ARG NODE_IMAGE=node:22-bookworm-slim

# Compiles Settle and bundles the workflow code once, here, so no worker bundles at start-up.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: older npm ignores package.json's allowScripts, and nothing the build needs has one.
# `npm install`, not `npm ci`: the lock file lacks the other platforms' optional builds of @swc/core and
# unrs-resolver (its registry had none), which `npm ci` refuses; install keeps every version the lock pins.
RUN --mount=type=cache,target=/root/.npm npm install --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# The packages Settle runs with, without the compiler and the test tools.
FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm install --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY deploy/compose/worker-healthcheck.js ./deploy/compose/worker-healthcheck.js
# Everything above belongs to root and stays read-only for the processes.
USER node
EXPOSE 3000
CMD ["node", "dist/api/main.js"]
