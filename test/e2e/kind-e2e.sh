#!/usr/bin/env bash
# End to end on a real cluster: install varmor-modeler with its chart, model an nginx Deployment
# for two minutes, and print the ArmorProfileModel. Not run by `make test` (it needs a cluster).
#
#   make image && test/e2e/kind-e2e.sh           the image `make image` built, loaded into kind
#   IMAGE=registry.example/varmor-modeler:0.1.0 USE_CURRENT_CONTEXT=1 test/e2e/kind-e2e.sh
#
# Environment:
#   IMAGE                 varmor-modeler image to run; unset: docker.io/library/varmor-modeler:<version>
#                         from make image's archive. With kind it is loaded from IMAGE_ARCHIVE, else
#                         from the docker engine; another cluster pulls it (push the archive first:
#                         skopeo copy oci-archive:out/varmor-modeler-<version>.oci.tar docker://REGISTRY/...)
#   IMAGE_ARCHIVE         image tarball for kind (default, when IMAGE is unset: out/varmor-modeler-<version>.oci.tar)
#   USE_CURRENT_CONTEXT=1 use the current kubectl context instead of creating a kind cluster
#   CLUSTER               kind cluster name (default varmor-modeler-e2e)
#   KEEP=1                keep the kind cluster and everything installed afterwards
#   TEMPORAL_ADDRESS      an existing Temporal frontend; unset: a dev server is started in the cluster
#   TEMPORAL_IMAGE        image of the Temporal CLI for that dev server (default temporalio/temporal:latest)
#   DURATION              modeling window (default 2m)
set -euo pipefail

cd "$(dirname "$0")/../.."
if [ -z "${IMAGE:-}" ]; then
  version=$(node -p 'require("./package.json").version')
  IMAGE=docker.io/library/varmor-modeler:$version
  IMAGE_ARCHIVE=${IMAGE_ARCHIVE:-out/varmor-modeler-$version.oci.tar}
  [ -f "$IMAGE_ARCHIVE" ] || { echo "kind-e2e: no $IMAGE_ARCHIVE: run make image, or set IMAGE" >&2; exit 1; }
fi
CLUSTER=${CLUSTER:-varmor-modeler-e2e}
NS=varmor-modeler
DURATION=${DURATION:-2m}
TEMPORAL_IMAGE=${TEMPORAL_IMAGE:-temporalio/temporal:latest}
HELM=$(command -v helm || true)
[ -x .tools/bin/helm ] && HELM=.tools/bin/helm
log() { printf '\n== %s\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "kind-e2e: $1 is required" >&2; exit 1; }; }
need kubectl
[ -n "$HELM" ] || { echo "kind-e2e: helm is required (make .tools/bin/helm)" >&2; exit 1; }

created=""
cleanup() {
  if [ -n "$created" ] && [ -z "${KEEP:-}" ]; then
    log "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER"
  fi
}
trap cleanup EXIT

if [ -z "${USE_CURRENT_CONTEXT:-}" ]; then
  need kind
  need docker
  if ! kind get clusters | grep -qx "$CLUSTER"; then
    log "creating kind cluster $CLUSTER"
    kind create cluster --name "$CLUSTER" --wait 120s
    created=1
  fi
  kubectl config use-context "kind-$CLUSTER"
  if [ -n "${IMAGE_ARCHIVE:-}" ]; then
    log "loading $IMAGE_ARCHIVE ($IMAGE) into kind"
    kind load image-archive "$IMAGE_ARCHIVE" --name "$CLUSTER"
  else
    log "loading $IMAGE into kind"
    kind load docker-image "$IMAGE" --name "$CLUSTER"
  fi
fi

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -

log "object store: MinIO with bucket 'models'"
kubectl -n "$NS" create secret generic s3-credentials \
  --from-literal=AWS_ACCESS_KEY_ID=e2e-access --from-literal=AWS_SECRET_ACCESS_KEY=e2e-secret-key \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: { name: minio }
spec:
  selector: { matchLabels: { app: minio } }
  template:
    metadata: { labels: { app: minio } }
    spec:
      containers:
        - name: minio
          image: minio/minio:latest
          args: [server, /data]
          env:
            - { name: MINIO_ROOT_USER, valueFrom: { secretKeyRef: { name: s3-credentials, key: AWS_ACCESS_KEY_ID } } }
            - { name: MINIO_ROOT_PASSWORD, valueFrom: { secretKeyRef: { name: s3-credentials, key: AWS_SECRET_ACCESS_KEY } } }
          ports: [{ containerPort: 9000 }]
          readinessProbe: { httpGet: { path: /minio/health/ready, port: 9000 } }
          volumeMounts: [{ name: data, mountPath: /data }]
      volumes: [{ name: data, emptyDir: {} }]
---
apiVersion: v1
kind: Service
metadata: { name: minio }
spec:
  selector: { app: minio }
  ports: [{ port: 9000 }]
EOF
kubectl -n "$NS" rollout status deploy/minio --timeout=180s
kubectl -n "$NS" delete job make-bucket --ignore-not-found
kubectl -n "$NS" apply -f - <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: { name: make-bucket }
spec:
  backoffLimit: 6
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: mb
          image: amazon/aws-cli:latest
          args: [--endpoint-url, http://minio:9000, s3api, create-bucket, --bucket, models]
          env:
            - { name: AWS_ACCESS_KEY_ID, valueFrom: { secretKeyRef: { name: s3-credentials, key: AWS_ACCESS_KEY_ID } } }
            - { name: AWS_SECRET_ACCESS_KEY, valueFrom: { secretKeyRef: { name: s3-credentials, key: AWS_SECRET_ACCESS_KEY } } }
            - { name: AWS_REGION, value: us-east-1 }
EOF
kubectl -n "$NS" wait --for=condition=complete job/make-bucket --timeout=180s

if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  log "Temporal dev server in the cluster ($TEMPORAL_IMAGE)"
  kubectl -n "$NS" apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: { name: temporal }
spec:
  selector: { matchLabels: { app: temporal } }
  template:
    metadata: { labels: { app: temporal } }
    spec:
      containers:
        - name: temporal
          image: $TEMPORAL_IMAGE
          args: [server, start-dev, --ip, 0.0.0.0, --headless]
          ports: [{ containerPort: 7233 }]
          readinessProbe: { tcpSocket: { port: 7233 } }
---
apiVersion: v1
kind: Service
metadata: { name: temporal }
spec:
  selector: { app: temporal }
  ports: [{ port: 7233 }]
EOF
  kubectl -n "$NS" rollout status deploy/temporal --timeout=180s
  TEMPORAL_ADDRESS=temporal.$NS.svc:7233
fi

log "installing the chart"
"$HELM" upgrade --install varmor-modeler charts/varmor-modeler -n "$NS" \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=IfNotPresent \
  --set temporal.address="$TEMPORAL_ADDRESS" \
  --set-string store.url="s3://models/e2e?endpoint=http://minio.$NS.svc:9000&region=us-east-1&pathStyle=true" \
  --set store.credentials.secretName=s3-credentials \
  --wait --timeout 5m
kubectl -n "$NS" rollout status ds/varmor-modeler-node --timeout=180s
kubectl get crd armorprofilemodels.crd.varmor.org

log "the workload: nginx, and a client exercising it"
kubectl -n default create deployment nginx --image=nginx:1.27 --replicas=2 --dry-run=client -o yaml | kubectl apply -f -
kubectl -n default expose deployment nginx --port 80 --dry-run=client -o yaml | kubectl apply -f -
kubectl -n default rollout status deploy/nginx --timeout=180s
kubectl -n default delete pod nginx-client --ignore-not-found
kubectl -n default run nginx-client --image=busybox:1.36 --restart=Never -- \
  sh -c 'while true; do wget -q -O /dev/null http://nginx/ || true; sleep 1; done'

CLI=(kubectl -n "$NS" exec deploy/varmor-modeler-controller -- varmor-modeler)
log "resolving the target"
"${CLI[@]}" targets resolve k8s:default/deployment/nginx

log "modeling for $DURATION"
"${CLI[@]}" model start --target k8s:default/deployment/nginx --duration "$DURATION"

log "waiting for the ArmorProfileModel"
deadline=$(( $(date +%s) + 600 ))
until [ "$(kubectl -n default get armorprofilemodel varmor-default-nginx -o jsonpath='{.status.ready}' 2>/dev/null)" = true ]; do
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "kind-e2e: no ready model after 10 minutes" >&2
    kubectl -n "$NS" logs deploy/varmor-modeler-controller --tail=50 >&2 || true
    exit 1
  fi
  sleep 10
done

log "result"
kubectl get armorprofilemodels -A
kubectl -n default get armorprofilemodel varmor-default-nginx -o jsonpath='{.data.profile.appArmor}' | head -40
kubectl -n default delete pod nginx-client --ignore-not-found >/dev/null
log "ok"
