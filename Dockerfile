# syntax=docker/dockerfile:1
# Build: compile TypeScript, then keep production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Run: no compiler, no dev dependencies, not root. Mount the config (and keys) at /etc/gatehouse;
# set server.host to 0.0.0.0 in it so that the port is reachable from outside the container.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.yaml
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
# /healthz on PORT (8080 unless set; health.live moves the path, HEALTH_URL overrides the whole URL).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTH_URL || `http://127.0.0.1:${process.env.PORT || 8080}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/bin.js"]
