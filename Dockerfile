# Satchel: one image for every instance (HTTP API + background worker).
#   docker build -t satchel .
#   docker run -p 8080:8080 -v satchel-data:/data satchel          # embedded mode
# With DATABASE_URL, REDIS_URL and STORAGE_DRIVER=s3 set it becomes a stateless instance
# (see compose.yaml and docs/deploy-aws.md).

# Node 24 is the LTS that CI tests (.ci/run installs the same major). The major tag takes
# Node and Debian security fixes on every rebuild; pin a digest if you need byte-identical builds.

# ---- build: all dependencies, compile TypeScript to dist/ ----------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, compiled code, migrations ---------------------------
FROM node:24-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080 \
    HOST=0.0.0.0
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Code stays owned by root (read-only to the process); only /data belongs to `node`.
COPY --from=build /app/dist ./dist
# dist/infra/migrator.js reads ../../migrations/ at start, i.e. /app/migrations.
COPY migrations ./migrations
# Embedded mode keeps its database, generated secrets and local blobs here. The directory
# is created and chowned before VOLUME so a fresh named volume inherits the ownership; a bind
# mount keeps its host owner, so it must be writable by the uid the container runs as (README).
# Satchel makes what it writes there private itself (umask 077, src/infra/private-files.ts).
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
VOLUME /data
USER node
EXPOSE 8080
# /healthz is liveness only (the process answers); slim images have no curl, so use node.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Must stay the command that `npm start` runs ("start" in package.json, without the
# `prestart` build and the shell's `exec`). Exec form, without npm or a shell in between, so
# SIGTERM reaches node directly and main.ts shuts down gracefully (finishes in-flight requests
# within SHUTDOWN_GRACE_SECONDS, exits 0).
# --heap-growing-percent=100: downloads allocate a fresh Buffer per read. Once a burst of small
# requests has grown V8's young generation to its maximum, the default old-generation limit
# (live heap x ~1.3-1.5, the live heap being ~35 MB, mostly loaded code) leaves less headroom
# than the young generation holds, and V8 started a new full mark right after each one ended:
# 7-11 a second while streaming, and ranged downloads at 0.43-0.63x a bare server instead of
# 0.8x (bench/api.ts, part b after part a). Twice the live heap leaves room, at the price of a
# higher heap ceiling (README, Benchmarks). It is a V8 flag: NODE_OPTIONS refuses it, and Node
# advises against setting V8 flags at run time, so it goes on the command line.
# --min-semi-space-size=32 --max-semi-space-size=32: a young generation of one fixed size.
# V8 shrinks it at the first GCs after an idle spell, and traffic in bursts ratchets it down
# (32 MiB to 16, 8, 4 over a few gaps of 20 s); the cached GET /files then ran 8x the
# scavenges (test/integration/young-generation.test.ts). Left to grow, it reached 128 MiB
# under list pages that miss the cache, which then cost more GC, not less: ~13% more CPU per
# page (medians) and ~130 MB more RSS than held at 64 MiB (docs/benchmarks.md).
# --expose-gc: uploads and downloads free the buffers their bytes are read into with a minor
# GC every 32 MiB, which spares a full mark of the heap every 64 MiB
# (src/infra/fresh-buffers.ts).
CMD ["node", "--heap-growing-percent=100", "--min-semi-space-size=32", "--max-semi-space-size=32", "--expose-gc", "--enable-source-maps", "dist/main.js"]
