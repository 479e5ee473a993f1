{{- define "varmor-modeler.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "varmor-modeler.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: varmor-modeler
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "varmor-modeler.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "varmor-modeler.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The all-in-one's Temporal dev server and object store: their Services' names. */}}
{{- define "varmor-modeler.temporalService" -}}
{{ include "varmor-modeler.fullname" . }}-temporal
{{- end -}}
{{- define "varmor-modeler.storeService" -}}
{{ include "varmor-modeler.fullname" . }}-store
{{- end -}}

{{/* Environment both components share: Temporal, the object store, the keyring, the metrics ports. */}}
{{- define "varmor-modeler.env" -}}
- name: VARMOR_MODELER_KEYS
  value: /etc/varmor-modeler/keys
- name: VARMOR_MODELER_METRICS_PORT
  value: {{ required "metrics.port is required: the probes use it" .Values.metrics.port | toString | quote }}
{{- if .Values.metrics.sdkPort }}
- name: VARMOR_MODELER_SDK_METRICS_PORT
  value: {{ .Values.metrics.sdkPort | toString | quote }}
{{- end }}
{{- if .Values.allInOne.enabled }}
- name: TEMPORAL_ADDRESS
  value: {{ printf "%s:7233" (include "varmor-modeler.temporalService" .) | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: VARMOR_MODELER_STORE
  value: {{ printf "s3://%s?endpoint=http://%s:8333&region=us-east-1&pathStyle=true" .Values.allInOne.store.bucket (include "varmor-modeler.storeService" .) | quote }}
# varmor-s3 checks no signature, but the S3 client signs every request
- name: AWS_ACCESS_KEY_ID
  value: varmor-modeler
- name: AWS_SECRET_ACCESS_KEY
  value: varmor-modeler
{{- else }}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if .Values.temporal.tls.enabled }}
- name: TEMPORAL_TLS_CERT
  value: /etc/varmor-modeler/temporal-tls/tls.crt
- name: TEMPORAL_TLS_KEY
  value: /etc/varmor-modeler/temporal-tls/tls.key
- name: TEMPORAL_TLS_CA
  value: /etc/varmor-modeler/temporal-tls/ca.crt
{{- with .Values.temporal.tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
- name: VARMOR_MODELER_STORE
  value: {{ required "store.url is required: an s3:// URL both components can reach (or, to try it on a small cluster, --set allInOne.enabled=true)" .Values.store.url | quote }}
{{- with .Values.store.credentials.secretName }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: {{ $.Values.store.credentials.accessKeyIdKey | quote }} }
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: { name: {{ . | quote }}, key: {{ $.Values.store.credentials.secretAccessKeyKey | quote }} }
{{- end }}
{{- end }}
{{- end -}}

{{- define "varmor-modeler.keysSecret" -}}
{{ .Values.keys.secretName | default (printf "%s-keys" (include "varmor-modeler.fullname" .)) }}
{{- end -}}

{{/* The keyring (templates/keys.yaml), mounted read-only in both components. */}}
{{- define "varmor-modeler.keysMount" -}}
- name: keys
  mountPath: /etc/varmor-modeler/keys
  readOnly: true
{{- end -}}

{{- define "varmor-modeler.keysVolume" -}}
- name: keys
  secret:
    secretName: {{ include "varmor-modeler.keysSecret" . | quote }}
    # 0440: root and the fsGroup read it (decimal: YAML 1.1 and 1.2 read a leading 0 differently)
    defaultMode: 288
{{- end -}}

{{/* The Temporal client certificate, when temporal.tls.enabled. */}}
{{- define "varmor-modeler.tlsMount" -}}
- name: temporal-tls
  mountPath: /etc/varmor-modeler/temporal-tls
  readOnly: true
{{- end -}}

{{- define "varmor-modeler.tlsVolume" -}}
- name: temporal-tls
  secret:
    secretName: {{ required "temporal.tls.secretName is required when temporal.tls.enabled" .Values.temporal.tls.secretName | quote }}
{{- end -}}

{{/* Host directories holding the audit logs: each path's directory, nested ones dropped (/dev/kmsg is a device, mounted alone). */}}
{{- define "varmor-modeler.auditDirs" -}}
{{- $dirs := list -}}
{{- range .Values.node.auditLogPaths -}}
{{- if ne . "/dev/kmsg" -}}
{{- $dirs = append $dirs (dir .) -}}
{{- end -}}
{{- end -}}
{{- $dirs = uniq $dirs -}}
{{- $kept := list -}}
{{- range $d := $dirs -}}
{{- $nested := false -}}
{{- range $o := $dirs -}}
{{- if and (ne $o $d) (hasPrefix (printf "%s/" (trimSuffix "/" $o)) $d) -}}
{{- $nested = true -}}
{{- end -}}
{{- end -}}
{{- if not $nested -}}
{{- $kept = append $kept $d -}}
{{- end -}}
{{- end -}}
{{- toJson (sortAlpha $kept) -}}
{{- end -}}

{{/* Both components' metrics ports and probes (docs/metrics.md): /healthz is the process and its
Temporal connection, /readyz its workers running (and, for the node agent, its tracer loading). */}}
{{- define "varmor-modeler.metricsContainer" -}}
ports:
  - name: metrics
    containerPort: {{ .Values.metrics.port }}
    protocol: TCP
  {{- if .Values.metrics.sdkPort }}
  - name: sdk-metrics
    containerPort: {{ .Values.metrics.sdkPort }}
    protocol: TCP
  {{- end }}
readinessProbe:
  httpGet: { path: /readyz, port: metrics }
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
# Restarted only after two minutes without an answer from Temporal: a short outage of the frontend
# is waited out (the workers reconnect by themselves).
livenessProbe:
  httpGet: { path: /healthz, port: metrics }
  initialDelaySeconds: 10
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
{{- end -}}

{{/* A pod's annotations: the scrape annotations (metrics.scrapeAnnotations) under the component's own podAnnotations. */}}
{{- define "varmor-modeler.podAnnotations" -}}
{{- $a := dict -}}
{{- if .root.Values.metrics.scrapeAnnotations -}}
{{- $a = dict "prometheus.io/scrape" "true" "prometheus.io/port" (toString .root.Values.metrics.port) "prometheus.io/path" "/metrics" -}}
{{- end -}}
{{- $a = merge (deepCopy (.own | default dict)) $a -}}
{{- with $a }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
