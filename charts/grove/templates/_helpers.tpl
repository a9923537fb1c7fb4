{{/*
Names. Kubernetes names are at most 63 characters: fullname is cut so that fullname plus a
component suffix still fits.
*/}}
{{- define "grove.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "grove.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<suffix>", within 63 characters. Call with (list . "suffix"). */}}
{{- define "grove.componentName" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $prefix := include "grove.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $prefix $suffix }}
{{- end }}

{{- define "grove.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "grove.labels" -}}
helm.sh/chart: {{ include "grove.chart" . }}
{{ include "grove.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: grove
{{- end }}

{{- define "grove.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grove.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component (operator, manager). The component is part of every selector, so the
chart's Services never select relay pods the operator labels with the same name and instance.
Call with (list . "operator").
*/}}
{{- define "grove.componentLabels" -}}
{{ include "grove.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "grove.componentSelectorLabels" -}}
{{ include "grove.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The Grove image, by digest when one is given. */}}
{{- define "grove.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "grove.operator.name" -}}
{{- include "grove.componentName" (list . "operator") }}
{{- end }}

{{- define "grove.manager.name" -}}
{{- include "grove.componentName" (list . "manager") }}
{{- end }}

{{- define "grove.operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "grove.operator.name" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "grove.manager.serviceAccountName" -}}
{{- if .Values.manager.serviceAccount.create }}
{{- default (include "grove.manager.name" .) .Values.manager.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.manager.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret and key the Manager's bootstrap admin token comes from. */}}
{{- define "grove.manager.bootstrapSecretName" -}}
{{- default (include "grove.componentName" (list . "manager-bootstrap")) .Values.manager.bootstrapTokenSecret.name }}
{{- end }}

{{/*
The one namespace the operator and the Manager watch (operator.watchNamespace, else the release
namespace), or "" with operator.clusterWide: every namespace.
*/}}
{{- define "grove.watchNamespace" -}}
{{- if .Values.operator.clusterWide }}
{{- if .Values.operator.watchNamespace }}
{{- fail "operator.watchNamespace must be empty with operator.clusterWide: one namespace, or all of them" }}
{{- end }}
{{- else }}
{{- default .Release.Namespace .Values.operator.watchNamespace }}
{{- end }}
{{- end }}

{{/* Namespace of the sample resources: the one the operator watches (the release's when cluster-wide). */}}
{{- define "grove.samplesNamespace" -}}
{{- default .Release.Namespace .Values.operator.watchNamespace }}
{{- end }}

{{/* Scheduling fields of a pod spec. Call with the component's values. */}}
{{- define "grove.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The Manager's Redis: args and password env (external URL, or a RelayPool's built-in Redis). */}}
{{- define "grove.manager.redis" -}}
{{- $r := .Values.manager.redis }}
{{- if $r.url }}
args:
  - --redis
  - {{ $r.url | quote }}
  {{- if $r.cluster }}
  - --redis-cluster
  {{- end }}
{{- if $r.passwordSecret.name }}
env:
  - name: GROVE_REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ $r.passwordSecret.name }}
        key: {{ $r.passwordSecret.key }}
{{- end }}
{{- else }}
{{- $pool := include "grove.manager.redisPool" . }}
{{- $ns := include "grove.manager.redisPoolNamespace" . }}
{{- /*
No password in the environment: the Manager reads it from the pool's Secret <pool>-redis-auth
through the API once the operator made it. A secretKeyRef here would keep the Manager from
starting (and `helm install --wait` from finishing) until a RelayPool of that name exists.
*/}}
args:
  - --redis
  - {{ printf "redis://%s-redis-svc.%s.svc:6379" $pool $ns | quote }}
  - --redis-relay-pool
  - {{ printf "%s/%s" $ns $pool | quote }}
{{- end }}
{{- end }}

{{/* The RelayPool whose built-in Redis the Manager uses (when manager.redis.url is empty). */}}
{{- define "grove.manager.redisPool" -}}
{{- .Values.manager.redis.relayPool | default (ternary (include "grove.componentName" (list . "sample")) "main" .Values.samples.enabled) }}
{{- end }}

{{- define "grove.manager.redisPoolNamespace" -}}
{{- .Values.manager.redis.namespace | default (include "grove.samplesNamespace" .) }}
{{- end }}

{{/* Who may scrape a metrics port: networkPolicy.metricsFrom, else pods of the release namespace. */}}
{{- define "grove.networkPolicy.scrapers" -}}
{{- with .Values.networkPolicy.metricsFrom }}
{{- range . }}
- podSelector:
    {{- toYaml (.podSelector | default dict) | nindent 4 }}
  {{- with .namespaceSelector }}
  namespaceSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- else }}
- podSelector: {}
{{- end }}
{{- end }}

{{/*
Egress rules of the operator and the Manager: the Kubernetes API (networkPolicy.apiServer: its
CIDRs, else any address, on its ports) and DNS anywhere (UDP and TCP 53).
*/}}
{{- define "grove.networkPolicy.apiServerAndDns" -}}
{{- $api := .Values.networkPolicy.apiServer }}
- ports:
    {{- range $api.ports }}
    - protocol: TCP
      port: {{ . | int }}
    {{- end }}
  {{- with $api.cidrs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
- ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end }}
