# One image for both processes (and the CLI); the compose file picks the command. Node runs directly, not
# through npm, so that it is the container's main process and receives SIGTERM itself.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The build also compiles the demo and bench scripts with the test harness they use: not for the image.
RUN npm run build && rm -rf dist/scripts dist/test && npm prune --omit=dev

FROM node:20-bookworm-slim
# tsconfig-paths resolves the @app/* aliases of the compiled code from /app/tsconfig.json and /app/dist,
# whatever the working directory of a `docker exec`.
ENV NODE_ENV=production \
    TS_NODE_PROJECT=/app/tsconfig.json \
    TS_NODE_BASEURL=/app/dist \
    PORT=3000 \
    WORKER_PORT=3001
WORKDIR /app
COPY --from=build /app/package.json /app/tsconfig.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# `are <command>` runs the CLI from the build (docs/operations.md, "CLI").
RUN printf '#!/bin/sh\nexec node -r tsconfig-paths/register /app/dist/apps/cli/src/main.js "$@"\n' > /usr/local/bin/are \
 && chmod 755 /usr/local/bin/are
# The image's own unprivileged user (uid 1000); the application files stay root's and read-only to it.
USER node
EXPOSE 3000 3001
# The API's /health/ready on PORT, or the worker's on WORKER_PORT: the probe finds out which process runs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/apps/healthcheck/src/main.js"]
CMD ["node", "-r", "tsconfig-paths/register", "dist/apps/api/src/main.js"]
