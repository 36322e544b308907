# Satchel: one image for every instance (HTTP API + background worker).
#   docker build -t satchel .
#   docker run -p 8080:8080 -v satchel-data:/data satchel          # embedded mode
# With DATABASE_URL, REDIS_URL and STORAGE_DRIVER=s3 set it becomes a stateless instance
# (see compose.yaml and docs/deploy-aws.md).

# ---- build: all dependencies, compile TypeScript to dist/ ----------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, compiled code, migrations ---------------------------
FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080 \
    HOST=0.0.0.0 \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Code stays owned by root (read-only to the process); only /data belongs to `node`.
COPY --from=build /app/dist ./dist
# dist/infra/migrator.js reads ../../migrations/ at start, i.e. /app/migrations.
COPY migrations ./migrations
# Embedded mode keeps its database, generated secrets and local blobs here. The directory
# is created and chowned before VOLUME so a fresh named volume inherits the ownership.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 8080
# /healthz is liveness only (the process answers); slim images have no curl, so use node.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Must stay the command that `npm start` runs ("start" in package.json, without the
# `prestart` build). Exec form, without npm or a shell in between, so SIGTERM reaches node
# directly and main.ts shuts down gracefully (finishes in-flight requests, exits 0).
CMD ["node", "--enable-source-maps", "dist/main.js"]
