#!/usr/bin/env bash
# A single-node Kubernetes with Argo Workflows on this machine, from the engines' own binaries
# (make cluster-tools builds them from their Go modules into ~/.cache; tools/tools.txt, group
# `cluster`), for make test-cluster: the compiled Workflows run there, every step in its image.
#
#   scripts/cluster.sh up       certificates, etcd, the control plane, the node, Argo, the stores
#   scripts/cluster.sh images   tag the images `make images` built as the node's (retrain-local/*)
#   scripts/cluster.sh status   what runs, where, and where the logs are
#   scripts/cluster.sh env      the shell settings that reach it: eval "$(scripts/cluster.sh env)"
#   scripts/cluster.sh down     stop everything; nothing left running, mounted or routed
#
# The pieces, all on this machine, none listening beyond loopback and the pod network it creates:
# - etcd 3.6 on 127.0.0.1 (TLS); kube-apiserver, kube-controller-manager, kube-scheduler,
#   kubelet and kube-proxy 1.34 (kubeadm writes only the certificates and kubeconfigs);
# - the node's runtime is cri-dockerd over the Docker engine of scripts/start_docker.sh, so the
#   images `make images` built are the node's; the pause image is compiled from Kubernetes'
#   own pause.c and imported; pods on a bridge (Debian's CNI plugins), 10.244.0.0/24, whose
#   gateway 10.244.0.1 is the node's address (the API server, the kubelet and the stores listen
#   there); services on 10.96.0.0/24 (kube-proxy, iptables). No cluster DNS: nothing we run
#   needs a name, and no CoreDNS image can be pulled here;
# - Argo's workflow-controller (Argo's own manifests and RBAC, its full CRDs applied
#   server-side) in a pod, argoexec as a local image; Argo's artifact repository on moto's S3
#   server (10.244.0.1:9000), and gcp-storage-emulator (10.244.0.1:9023) for gs:// (the
#   registry, data and configs), which every step's main container is pointed at
#   (STORAGE_EMULATOR_HOST, by the controller's mainContainer defaults);
# - then the user's own path: `python scripts/argo_submit.py install --overlay overlays/local-cluster`.
#
# State, certificates and logs live in build/cluster/ (RETRAIN_CLUSTER_DIR). Needs root (the
# kubelet), a Docker engine and the cluster tools; `up` says which is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
STATE="${RETRAIN_CLUSTER_DIR:-$REPO/build/cluster}"
PY="${PYTHON:-.venv/bin/python}"
NODE=retrain-node
BRIDGE=retrain0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/24
S3_PORT=9000
GCS_PORT=9023
K8S_VERSION=v1.34.12
PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
ARGO_VERSION=v4.0.7
ARGOEXEC_IMAGE=retrain-local/argoexec:$ARGO_VERSION
CONTROLLER_IMAGE=retrain-local/workflow-controller:$ARGO_VERSION
NAMESPACE=ml-pipelines
# Buckets on the GCS emulator: the compiled defaults (config/platform.json) and a test area.
GCS_BUCKETS="retrain-dev-data retrain-dev-models retrain-dev-artifacts"
# Host settings the kubelet changes at start (protectKernelDefaults: false); down restores them.
SYSCTLS="vm.overcommit_memory kernel.panic kernel.panic_on_oops"
# Daemons in start order; down stops them in reverse.
DAEMONS="gcs s3 etcd kube-apiserver kube-controller-manager kube-scheduler cri-dockerd kubelet kube-proxy"

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
# The shelf's binaries (tools/tools.txt, group cluster), found once in this shell, so a missing
# one stops here naming them all, before anything starts.
CLUSTER_TOOLS="etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm
  kubectl cri-dockerd workflow-controller argoexec argo-cli"
declare -A BIN
resolve_tools() {
  local name path missing=""
  for name in "$@"; do
    if path="$(python3.11 scripts/tools.py path "$name" 2>/dev/null)"; then
      BIN[$name]="$path"
    else
      missing="$missing $name"
    fi
  done
  [ -z "$missing" ] || die "not built:$missing; run \`make cluster-tools\` (tools/tools.txt, group cluster)"
}
kc() { "${BIN[kubectl]}" --kubeconfig "$STATE/admin.conf" "$@"; }
pidfile() { echo "$STATE/run/$1.pid"; }
running() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }

# start NAME COMMAND...: a daemon in its own session, its log in $STATE/logs/NAME.log.
start() {
  local name="$1"; shift
  running "$name" && { say "$name already runs"; return; }
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds, or fail naming WHAT and its log.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$what did not come up within ${seconds} s; last lines of its log:"
      tail -15 "$STATE/logs/$what.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 1
  done
}

preflight() {
  [ "$(id -u)" = 0 ] || die "the kubelet needs root (mounts, cgroups, network namespaces)"
  docker info >/dev/null 2>&1 || die "no Docker engine answers: run scripts/start_docker.sh"
  if ! [ -x /usr/lib/cni/bridge ] || ! command -v conntrack >/dev/null; then
    command -v apt-get >/dev/null \
      || die "the CNI plugins and conntrack are missing: install containernetworking-plugins and conntrack"
    say "installing containernetworking-plugins and conntrack from Debian's packages"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        containernetworking-plugins conntrack; } >"$STATE/logs/apt.log" 2>&1 \
      || die "apt-get install failed; see $STATE/logs/apt.log"
  fi
  [ -x "$PY" ] || die "no $PY: run \`make venv\`"
  [ -x .venv/s3/bin/moto_server ] || die "no S3 server: run \`make cluster-tools\` (it installs .venv/s3)"
  # shellcheck disable=SC2086  # a list of names
  resolve_tools $CLUSTER_TOOLS
}

certificates() {
  [ -f "$STATE/admin.conf" ] && return
  say "certificates and kubeconfigs (kubeadm init phase certs/kubeconfig)"
  cat >"$STATE/kubeadm.yaml" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: $NODE_IP, bindPort: 6443}
nodeRegistration: {name: $NODE}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: retrain-local
kubernetesVersion: $K8S_VERSION
certificatesDir: $STATE/pki
networking: {serviceSubnet: $SVC_CIDR, podSubnet: $POD_CIDR}
YAML
  "${BIN[kubeadm]}" init phase certs all --config "$STATE/kubeadm.yaml" >>"$STATE/logs/kubeadm.log" 2>&1
  "${BIN[kubeadm]}" init phase kubeconfig all --config "$STATE/kubeadm.yaml" \
    --kubeconfig-dir "$STATE/kubeconfig" >>"$STATE/logs/kubeadm.log" 2>&1
  cp "$STATE/kubeconfig/admin.conf" "$STATE/admin.conf"
}

network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NODE_IP/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  # Pod to pod on the bridge: Docker's FORWARD policy (DROP) would stop it (br_netfilter).
  iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null \
    || iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  # Pods reach the node and each other on the bridge and the services through the node; no
  # default route, no masquerade: nothing a pod sends leaves this machine.
  mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/cni/cache"
  cat >"$STATE/cni/net.d/10-retrain.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "retrain",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
              "routes": [{"dst": "$SVC_CIDR", "gw": "$NODE_IP"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
}

stores() {
  mkdir -p "$STATE/gcs"
  STORAGE_BASE="$STATE/gcs" start gcs "$REPO/.venv/bin/gcp-storage-emulator" start \
    --host "$NODE_IP" --port "$GCS_PORT" --quiet
  start s3 "$REPO/.venv/s3/bin/moto_server" -H "$NODE_IP" -p "$S3_PORT"
  wait_for gcs 60 curl -fsS "http://$NODE_IP:$GCS_PORT/storage/v1/b?project=local"
  wait_for s3 60 curl -fsS -o /dev/null "http://$NODE_IP:$S3_PORT/"
  for bucket in $GCS_BUCKETS; do
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
      -d "{\"name\": \"$bucket\"}" "http://$NODE_IP:$GCS_PORT/storage/v1/b?project=local" || true
  done
  curl -s -o /dev/null -X PUT "http://$NODE_IP:$S3_PORT/argo-artifacts" || true
}

control_plane() {
  local pki="$STATE/pki"
  start etcd "${BIN[etcd]}" --name "$NODE" --data-dir "$STATE/etcd" \
    --listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
    --listen-peer-urls https://127.0.0.1:2380 --initial-advertise-peer-urls https://127.0.0.1:2380 \
    --initial-cluster "$NODE=https://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
    --cert-file "$pki/etcd/server.crt" --key-file "$pki/etcd/server.key" \
    --trusted-ca-file "$pki/etcd/ca.crt" --client-cert-auth \
    --peer-cert-file "$pki/etcd/peer.crt" --peer-key-file "$pki/etcd/peer.key" \
    --peer-trusted-ca-file "$pki/etcd/ca.crt" --peer-client-cert-auth
  wait_for etcd 60 curl -fsS http://127.0.0.1:2381/health
  start kube-apiserver "${BIN[kube-apiserver]}" \
    --advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port 6443 \
    --etcd-servers https://127.0.0.1:2379 --etcd-cafile "$pki/etcd/ca.crt" \
    --etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key" \
    --client-ca-file "$pki/ca.crt" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" \
    --proxy-client-key-file "$pki/front-proxy-client.key" \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --requestheader-group-headers X-Remote-Group --requestheader-username-headers X-Remote-User \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SVC_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=false --profiling=false
  wait_for kube-apiserver 120 kc get --raw /readyz
  # admin.conf's user is in kubeadm:cluster-admins (kubeadm 1.29+); kubeadm init binds that group
  # to cluster-admin as the super-admin (system:masters), and so does this.
  local admin=("${BIN[kubectl]}" --kubeconfig "$STATE/kubeconfig/super-admin.conf")
  "${admin[@]}" create clusterrolebinding kubeadm:cluster-admins --clusterrole cluster-admin \
    --group kubeadm:cluster-admins --dry-run=client -o yaml | "${admin[@]}" apply -f - >/dev/null
  # The API server reaches the kubelet (logs, exec) as kube-apiserver-kubelet-client.
  kc create clusterrolebinding kube-apiserver-kubelet-api-admin --clusterrole system:kubelet-api-admin \
    --user kube-apiserver-kubelet-client --dry-run=client -o yaml | kc apply -f - >/dev/null
  start kube-controller-manager "${BIN[kube-controller-manager]}" \
    --kubeconfig "$STATE/kubeconfig/controller-manager.conf" \
    --authentication-kubeconfig "$STATE/kubeconfig/controller-manager.conf" \
    --authorization-kubeconfig "$STATE/kubeconfig/controller-manager.conf" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SVC_CIDR" --allocate-node-cidrs=false --profiling=false
  start kube-scheduler "${BIN[kube-scheduler]}" \
    --kubeconfig "$STATE/kubeconfig/scheduler.conf" \
    --authentication-kubeconfig "$STATE/kubeconfig/scheduler.conf" \
    --authorization-kubeconfig "$STATE/kubeconfig/scheduler.conf" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

pause_image() {
  docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1 && return
  say "the pause image from Kubernetes' pause.c ($K8S_VERSION)"
  local src build
  src="$(cd tools/k8s && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  build="$(mktemp -d)"
  mkdir -p "$build/root"
  gcc -Os -Wall -Werror -static -DVERSION=v3.10.1-$K8S_VERSION -o "$build/root/pause" "$src"
  strip "$build/root/pause"
  tar -C "$build/root" -c pause | docker import \
    --change 'USER 65535:65535' --change 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
  rm -rf "$build"
}

# binary_image IMAGE TOOL: a FROM-scratch image holding one static binary at /bin/TOOL.
binary_image() {
  local image="$1" name="$2" build binary digest
  binary="${BIN[$name]}"
  digest="$(sha256sum "$binary" | cut -c1-16)"
  [ "$(docker image inspect -f '{{index .Config.Labels "retrain.binary"}}' "$image" 2>/dev/null)" \
    = "$digest" ] && return
  build="$(mktemp -d)"
  mkdir -p "$build/bin" "$build/tmp"
  cp "$binary" "$build/bin/$name"
  tar -C "$build" --owner 0 --group 0 -c bin tmp | docker import \
    --change "ENTRYPOINT [\"/bin/$name\"]" --change 'USER 8737' \
    --change "LABEL retrain.binary=$digest" - "$image" >/dev/null
  rm -rf "$build"
}

# docker_runtime on|off|restore: the Docker engine's default runtime is scripts/cluster/runc-oom-clamp
# while the cluster is up (see that file: this machine withholds CAP_SYS_RESOURCE, so runc cannot
# give the pod sandboxes the -998 OOM score cri-dockerd asks for). Both keys are reloaded on
# SIGHUP; off sets runc again, restore puts /etc/docker/daemon.json back as it was.
docker_runtime() {
  local want=runc
  [ "$1" = on ] && want=retrain-runc
  [ "$1" != on ] && [ ! -f "$STATE/docker-daemon.json.saved" ] && return
  python3 - "$1" "$REPO/scripts/cluster/runc-oom-clamp" "$STATE/docker-daemon.json.saved" <<'PY'
import json, os, sys
mode, shim, saved = sys.argv[1:]
path = "/etc/docker/daemon.json"
def write(conf):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as handle:
        json.dump(conf, handle, indent=2)
    os.replace(path + ".tmp", path)
if mode == "on":
    conf = json.load(open(path)) if os.path.exists(path) else {}
    if not os.path.exists(saved):
        json.dump({"existed": os.path.exists(path), "config": conf}, open(saved, "w"))
    conf.setdefault("runtimes", {})["retrain-runc"] = {"path": shim}
    conf["default-runtime"] = "retrain-runc"
    write(conf)
elif mode == "off":
    before = json.load(open(saved))["config"]
    write({**before, "default-runtime": before.get("default-runtime", "runc")})
else:
    before = json.load(open(saved))
    if before["existed"]:
        write(before["config"])
    elif os.path.exists(path):
        os.remove(path)
    os.remove(saved)
PY
  [ "$1" = restore ] && return
  kill -HUP "$(pgrep -x dockerd)"
  for _ in $(seq 50); do
    docker info --format '{{.DefaultRuntime}}' 2>/dev/null | grep -qx "$want" && return
    sleep 0.2
  done
  die "the Docker engine did not take default-runtime $want (see its log)"
}

node() {
  local pki="$STATE/pki"
  docker_runtime on
  mkdir -p "$STATE/kubelet" "$STATE/cri-dockerd"
  for folder in /var/log/pods /var/log/containers; do
    [ -d "$folder" ] || touch "$STATE/created${folder//\//-}"
  done
  start cri-dockerd "${BIN[cri-dockerd]}" \
    --container-runtime-endpoint "unix://$STATE/cri-dockerd.sock" \
    --cri-dockerd-root-directory "$STATE/cri-dockerd" \
    --network-plugin cni --cni-bin-dir /usr/lib/cni --cni-conf-dir "$STATE/cni/net.d" \
    --cni-cache-dir "$STATE/cni/cache" --pod-infra-container-image "$PAUSE_IMAGE" \
    --streaming-bind-addr 127.0.0.1:0 --hairpin-mode hairpin-veth
  wait_for cri-dockerd 30 test -S "$STATE/cri-dockerd.sock"
  for name in $SYSCTLS; do
    [ -f "$STATE/sysctl.saved" ] && grep -q "^$name=" "$STATE/sysctl.saved" && continue
    echo "$name=$(sysctl -n "$name")" >>"$STATE/sysctl.saved"
  done
  cat >"$STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
# No QoS cgroup tree of the kubelet's own (nothing to remove at down): each container's limits are
# set by the Docker engine, which puts it under its own cgroup.
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://$STATE/cri-dockerd.sock
failSwapOn: false
serializeImagePulls: false
# The images are built here, never pulled; never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 500Mi, nodefs.available: 2%, imagefs.available: 2%}
resolvConf: /etc/resolv.conf
YAML
  start kubelet "${BIN[kubelet]}" --config "$STATE/kubelet.yaml" \
    --kubeconfig "$STATE/kubeconfig/kubelet.conf" --root-dir "$STATE/kubelet" \
    --cert-dir "$STATE/kubelet/pki" --hostname-override "$NODE" --node-ip "$NODE_IP"
  wait_for kubelet 120 kc get node "$NODE"
  # kube-proxy runs as the node (system:node-proxier, as kubeadm grants its service account).
  kc create clusterrolebinding retrain-node-proxier --clusterrole system:node-proxier \
    --user "system:node:$NODE" --dry-run=client -o yaml | kc apply -f - >/dev/null
  cat >"$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kubeconfig/kubelet.conf}
hostnameOverride: $NODE
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
# Leave the host's conntrack settings as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
  start kube-proxy "${BIN[kube-proxy]}" --config "$STATE/kube-proxy.yaml"
  wait_for kubelet 120 sh -c "'${BIN[kubectl]}' --kubeconfig '$STATE/admin.conf' get node $NODE \
    -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

argo() {
  local module manifests
  module="$(cd tools/argo-cluster && go list -m -f '{{.Dir}}' github.com/argoproj/argo-workflows/v4)"
  manifests="$module/manifests"
  say "Argo $ARGO_VERSION: full CRDs (server-side), the controller and its RBAC from $manifests"
  kc apply --server-side --force-conflicts -k "$manifests/base/crds/full" >/dev/null
  mkdir -p "$STATE/argo"
  local rel; rel="$(realpath --relative-to "$STATE/argo" "$manifests")"  # kustomize: no absolute roots
  # Argo's own install (cluster-install without the argo-server), images built here.
  cat >"$STATE/argo/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: argo
resources:
- $rel/base/workflow-controller
- $rel/cluster-install-no-crds/workflow-controller-rbac
images:
- name: quay.io/argoproj/workflow-controller
  newName: ${CONTROLLER_IMAGE%:*}
  newTag: $ARGO_VERSION
patches:
- path: configmap.yaml
YAML
  cat >"$STATE/argo/configmap.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: workflow-controller-configmap
data:
  # argoexec is a local image; its containers meet the restricted Pod Security Standard.
  executor: |
    image: $ARGOEXEC_IMAGE
    imagePullPolicy: IfNotPresent
    securityContext:
      runAsNonRoot: true
      runAsUser: 10001
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
      seccompProfile: {type: RuntimeDefault}
  # gs:// is the GCS emulator on the node for every step's main container.
  mainContainer: |
    env:
    - {name: STORAGE_EMULATOR_HOST, value: "http://$NODE_IP:$GCS_PORT"}
    - {name: GOOGLE_CLOUD_PROJECT, value: local}
YAML
  kc create namespace argo --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc apply -k "$STATE/argo" >/dev/null
  kc -n argo rollout status deployment/workflow-controller --timeout=180s >/dev/null \
    || { kc -n argo describe pods >&2; die "the workflow-controller did not become ready"; }
}

images() {
  [ -f build/images.json ] || die "no build/images.json: run \`make images\` first"
  local tag
  tag="$("$PY" -c 'import yaml; print(yaml.safe_load(open("components/images.yaml"))["tag"])')"
  "$PY" - "$tag" <<'EOF'
import json, subprocess, sys
tag = sys.argv[1]
for family, built in json.load(open("build/images.json")).items():
    name = built["ref"].rsplit(":", 1)[0].rsplit("/", 1)[-1]
    subprocess.run(["docker", "tag", built["ref"], f"retrain-local/{name}:{tag}"], check=True)
    print(f"cluster: {built['ref']} -> retrain-local/{name}:{tag}", file=sys.stderr)
EOF
}

# The iptables chains the kubelet and kube-proxy add (KUBE-*, IPv4 and IPv6): the jumps to them,
# then the chains. Only when up found none, so no other kubelet's rules are touched.
remove_kube_chains() {
  local cmd table chain
  for cmd in iptables ip6tables; do
    command -v "$cmd-save" >/dev/null || continue
    for table in filter nat mangle; do
      "$cmd-save" -t "$table" 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed 's/^-A /-D /' \
        | while read -r rule; do eval "$cmd -t $table $rule" 2>/dev/null || true; done || true
      for chain in $("$cmd-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p'); do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$cmd-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p'); do
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

up() {
  mkdir -p "$STATE/logs" "$STATE/run" "$STATE/kubeconfig"
  preflight
  if [ ! -f "$STATE/run/kubelet.pid" ] && ! { iptables-save; ip6tables-save; } 2>/dev/null | grep -q '^:KUBE-'; then
    touch "$STATE/own-kube-chains"
  fi
  local began=$SECONDS
  network
  certificates
  stores
  control_plane
  pause_image
  node
  binary_image "$ARGOEXEC_IMAGE" argoexec
  binary_image "$CONTROLLER_IMAGE" workflow-controller
  argo
  [ -f build/images.json ] && images
  say "the user's path: python scripts/argo_submit.py install --overlay overlays/local-cluster"
  KUBECONFIG="$STATE/admin.conf" PATH="$(dirname "${BIN[kubectl]}"):$PATH" \
    "$PY" scripts/argo_submit.py install --overlay overlays/local-cluster >/dev/null
  say "up in $((SECONDS - began)) s"
  status
}

status() {
  local name pid
  for name in $DAEMONS; do
    if running "$name"; then pid="pid $(cat "$(pidfile "$name")")"; else pid="not running"; fi
    printf '  %-24s %-14s log: %s\n' "$name" "$pid" "$STATE/logs/$name.log"
  done
  if [ -f "$STATE/admin.conf" ] && running kube-apiserver; then
    printf '  %-24s %s\n' "API server" "https://$NODE_IP:6443 (export KUBECONFIG=$STATE/admin.conf)"
    printf '  %-24s %s\n' "S3 (Argo artifacts)" "http://$NODE_IP:$S3_PORT, bucket argo-artifacts"
    printf '  %-24s %s\n' "GCS emulator" "STORAGE_EMULATOR_HOST=http://$NODE_IP:$GCS_PORT"
    kc get nodes -o wide 2>/dev/null | sed 's/^/  /' || true
    kc get pods -A 2>/dev/null | sed 's/^/  /' || true
  fi
}

down() {
  local name pid
  for name in $(echo "$DAEMONS" | tr ' ' '\n' | tac); do
    running "$name" || { rm -f "$(pidfile "$name")"; continue; }
    pid="$(cat "$(pidfile "$name")")"
    # The whole session: a daemon's children (the S3 server's reloader, CNI plugins) too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$(pidfile "$name")"
  done
  # The pods' containers (cri-dockerd names them k8s_*), then what kube-proxy and the kubelet
  # left on the host: iptables chains, mounts under the kubelet's root, the bridge.
  local containers
  containers="$(docker ps -aq --filter name='^k8s_' 2>/dev/null || true)"
  [ -n "$containers" ] && docker rm -f $containers >/dev/null 2>&1 || true
  if [ -f "$STATE/docker-daemon.json.saved" ]; then
    docker_runtime off
    docker_runtime restore
  fi
  if [ -f "$STATE/own-kube-chains" ]; then
    remove_kube_chains
    rm -f "$STATE/own-kube-chains"
  fi
  grep -F " $STATE/" /proc/mounts | awk '{print $2}' | sort -r | while read -r mount; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  while iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  # The pods' log folders, when up created them (the kubelet writes there, whatever its root).
  for folder in /var/log/pods /var/log/containers; do
    [ -f "$STATE/created${folder//\//-}" ] && rm -rf "$folder" "$STATE/created${folder//\//-}"
  done
  if [ -f "$STATE/sysctl.saved" ]; then
    while IFS='=' read -r key value; do sysctl -qw "$key=$value" || true; done <"$STATE/sysctl.saved"
    rm -f "$STATE/sysctl.saved"
  fi
  # The cluster's data goes (the next up starts clean); the logs stay for reading.
  rm -rf "$STATE/etcd" "$STATE/kubelet" "$STATE/cri-dockerd" "$STATE/cni" "$STATE/gcs" \
    "$STATE/run" "$STATE/pki" "$STATE/kubeconfig" "$STATE/admin.conf"
  say "down: nothing runs; logs kept in $STATE/logs"
}

environment() {
  resolve_tools argo-cli kubectl
  echo "export KUBECONFIG=$STATE/admin.conf"
  echo "export STORAGE_EMULATOR_HOST=http://$NODE_IP:$GCS_PORT GOOGLE_CLOUD_PROJECT=local"
  echo "export RETRAIN_CLUSTER_S3=http://$NODE_IP:$S3_PORT RETRAIN_CLUSTER_NAMESPACE=$NAMESPACE"
  # The shelf's argo and kubectl (the server's version) before the machine's.
  echo "export PATH=$(dirname "${BIN[argo-cli]}"):$(dirname "${BIN[kubectl]}"):\$PATH"
}

case "${1:-}" in
  up) up ;;
  env) environment ;;
  down) down ;;
  status) status ;;
  images) images ;;
  *) echo "usage: scripts/cluster.sh up|down|status|images|env" >&2; exit 2 ;;
esac
