{{- define "ownership.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ownership.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ownership.labels" -}}
app.kubernetes.io/name: {{ include "ownership.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ownership.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ownership.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ownership.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ownership.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ownership.config" -}}
{{- $store := dict "url" "sqlite:////var/lib/ownership/ownership.db" -}}
{{- if .Values.database.url -}}
{{- $store = dict "url" .Values.database.url -}}
{{- if .Values.database.passwordSecret.name -}}
{{- $_ := set $store "password" (dict "token_env" "OWNERSHIP_DB_PASSWORD") -}}
{{- end -}}
{{- end -}}
{{- $_ := set $store "retention_full" .Values.retention.full -}}
{{- if .Values.retention.daily -}}
{{- $_ := set $store "retention_daily" .Values.retention.daily -}}
{{- else -}}
{{- $_ := set $store "retention_daily" nil -}}
{{- end -}}
{{- $serve := dict "interval" .Values.collectInterval -}}
{{- $cfg := merge (dict "apiVersion" "ownership-agent/v1" "kind" "Config" "store" $store "serve" $serve) (deepCopy .Values.config) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* A Prometheus duration (30m, 1h, 2d) in seconds, for alert thresholds. */}}
{{- define "ownership.seconds" -}}
{{- $d := toString . -}}
{{- $n := int (trimSuffix "s" (trimSuffix "m" (trimSuffix "h" (trimSuffix "d" $d)))) -}}
{{- if hasSuffix "d" $d -}}{{ mul $n 86400 }}{{- else if hasSuffix "h" $d -}}{{ mul $n 3600 }}{{- else if hasSuffix "m" $d -}}{{ mul $n 60 }}{{- else -}}{{ $n }}{{- end -}}
{{- end -}}
