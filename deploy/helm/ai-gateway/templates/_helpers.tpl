{{/* The chart's name, overridable by nameOverride. */}}
{{- define "ai-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name, prefixed with the chart name unless it already contains it. */}}
{{- define "ai-gateway.fullname" -}}
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

{{/* Labels the pods are selected by: never change them on an installed release. */}}
{{- define "ai-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ai-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ai-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ai-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret the pods read their provider keys and admin token from. */}}
{{- define "ai-gateway.secretName" -}}
{{- default (include "ai-gateway.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
Seconds the pod gets from deletion to SIGKILL, derived so the drain always fits: the preStop sleep
(the gateway still serves while endpoints drop the pod), then after SIGTERM drainDelay (/readyz at
503, still accepting) and drainTimeout (in-flight requests and streams finish), plus a margin for
the process to exit.
*/}}
{{- define "ai-gateway.terminationGracePeriodSeconds" -}}
{{- add .Values.preStopSleepSeconds .Values.drainDelay .Values.drainTimeout .Values.terminationMarginSeconds }}
{{- end }}
