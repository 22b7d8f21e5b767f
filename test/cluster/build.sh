#!/usr/bin/env bash
# Builds the test cluster's binaries (kube-apiserver, kubectl, etcd, helm) from the Go modules
# pinned in test/cluster/go/*, into a cache outside the repository keyed by those pins.
# A second run finds the cache and builds nothing. Prints the bin directory on the last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mods="$here/go"
step_timeout="${LANYARD_BUILD_STEP_TIMEOUT:-50m}"

command -v go >/dev/null || { echo "test cluster: Go is required to build the test cluster (https://go.dev/dl)" >&2; exit 1; }

pin() { # module path, go.mod file -> version required there
  awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$2"
}
k8s="$(pin k8s.io/kubernetes "$mods/kube/go.mod")"
etcd="$(pin go.etcd.io/etcd/server/v3 "$mods/etcd/go.mod")"
helm="$(pin helm.sh/helm/v3 "$mods/helm/go.mod")"
gover="$(go env GOVERSION)"
k8s_minor="$(echo "$k8s" | cut -d. -f2)"
# Stamp the release versions, as the upstream release builds do: helm and kubectl read them
# (chart kubeVersion checks, version skew), and a bare `go build` would report v0.0.0.
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1"
kube_ldflags+=" -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"
kube_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s -X k8s.io/client-go/pkg/version.gitMajor=1"
kube_ldflags+=" -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm"
digest="$(cat "$mods"/*/go.mod "$mods"/*/go.sum "$mods"/etcd/main.go <(echo "$gover $kube_ldflags $helm_ldflags") | sha256sum | cut -c1-12)"

cache_root="${LANYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lanyard}"
dest="$cache_root/testcluster/k8s-$k8s-etcd-$etcd-helm-$helm-$gover-$digest"
bins=(kube-apiserver kubectl etcd helm)

have_all() { for b in "${bins[@]}"; do [[ -x "$1/$b" ]] || return 1; done; }

if have_all "$dest/bin"; then
  echo "test cluster: using cached binaries in $dest/bin (nothing to build)" >&2
  echo "$dest/bin"
  exit 0
fi

mkdir -p "$cache_root/testcluster"
exec 9>"$cache_root/testcluster/.build.lock"
if ! flock -n 9; then
  echo "test cluster: another build holds $cache_root/testcluster/.build.lock; waiting for it" >&2
  flock 9
  if have_all "$dest/bin"; then
    echo "test cluster: using cached binaries in $dest/bin (built by the other run)" >&2
    echo "$dest/bin"
    exit 0
  fi
fi

work="$(mktemp -d "$cache_root/testcluster/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/logs"
echo "test cluster: cold build of kubernetes $k8s, etcd $etcd, helm $helm with $gover into $dest" >&2
echo "test cluster: this takes many minutes the first time (about 25 on 2 cores); logs in $dest/logs" >&2

started=$SECONDS
step=0
run_step() { # name, module dir, ldflags, go build arguments...
  local name="$1" dir="$2" ldflags="$3"; shift 3
  step=$((step + 1))
  local log="$work/logs/$name.log" t0=$SECONDS
  echo "test cluster: [$step/3] building $name ..." >&2
  (
    while sleep 60; do echo "test cluster:   ... $name still building ($(( (SECONDS - t0) / 60 )) min)" >&2; done
  ) &
  local ticker=$!
  local rc=0
  (cd "$dir" && timeout --kill-after=30s "$step_timeout" go build -trimpath -ldflags="$ldflags" -o "$work/bin/" "$@") >"$log" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [[ $rc -ne 0 ]]; then
    mkdir -p "$dest/logs"
    cp "$log" "$dest/logs/$name.log"
    [[ $rc -eq 124 ]] && echo "test cluster: step '$name' timed out after $step_timeout" >&2
    echo "test cluster: step '$name' failed (exit $rc); full log: $dest/logs/$name.log; last lines:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
  echo "test cluster: [$step/3] $name built in $((SECONDS - t0)) s" >&2
}

run_step etcd "$mods/etcd" "-s -w" .
run_step helm "$mods/helm" "$helm_ldflags" helm.sh/helm/v3/cmd/helm
run_step kube-apiserver+kubectl "$mods/kube" "$kube_ldflags" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl

have_all "$work/bin" || { echo "test cluster: build finished but binaries are missing in $work/bin" >&2; exit 1; }
mkdir -p "$dest"
rm -rf "$dest/bin" "$dest/logs"
mv "$work/logs" "$dest/logs"
mv "$work/bin" "$dest/bin"
echo "test cluster: built everything in $((SECONDS - started)) s; cached in $dest/bin" >&2
echo "$dest/bin"
