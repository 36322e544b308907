#!/usr/bin/env bash
# Builds a local stand-in for the official node:<major>-bookworm-slim image that the Dockerfile
# starts FROM, for a machine that reaches Debian's and npm's package registries but no image
# registry, so that `npm run test:image` can run there. Never push it: it is a test fixture.
#
#   sudo scripts/standin-node-image.sh      # needs root, debootstrap and podman
#
# Laid out as the official image is: Debian bookworm (minbase), node and npm under /usr/local,
# user `node` 1000:1000. Node is the exact version .ci/run tests, from the npm registry's
# build of the official binary. When NODE_EXTRA_CA_CERTS names a file (a TLS-inspecting proxy),
# the image trusts it too, or `npm ci` in the build could not reach the registry.
set -euo pipefail
cd "$(dirname "$0")/.."

node_version="$(sed -n 's/^NODE_VERSION=//p' .ci/run)"
major="${node_version%%.*}"
tag="docker.io/library/node:${major}-bookworm-slim"
case "$(uname -m)" in
  x86_64) node_arch=x64 ;;
  aarch64) node_arch=arm64 ;;
  *) echo "no node-linux-* package for $(uname -m)" >&2; exit 1 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

(cd "$work" && npm pack --silent "node-linux-$node_arch@$node_version" "npm@$(npm --version)" >/dev/null)
mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/node-linux-"$node_arch"-*.tgz -C "$work" package/bin/node
mv "$work/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

echo 'node:x:1000:' >>"$rootfs/etc/group"
echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$rootfs/etc/passwd"
mkdir -p "$rootfs/home/node"
chown 1000:1000 "$rootfs/home/node"

changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$node_version" --change 'CMD ["node"]')
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  cp "$NODE_EXTRA_CA_CERTS" "$rootfs/usr/local/share/standin-extra-ca.crt"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/standin-extra-ca.crt')
fi

tar -C "$rootfs" -c . | podman import "${changes[@]}" - "$tag"
# The same runtime and limits as test-image.ts: crun and podman's default ulimits fail in
# some sandboxes.
version="$(podman run --rm --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
  "$tag" node --version)"
echo "stand-in $tag: node $version"
