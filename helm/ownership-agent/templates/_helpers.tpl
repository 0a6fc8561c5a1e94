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
{{- $given := .Values.config | default dict -}}
{{- if hasKey $given "store" -}}
{{- fail "config.store is written by the chart: set database.url, database.passwordSecret and retention instead" -}}
{{- end -}}
{{- range $k := list "interval" "host" "port" -}}
{{- if hasKey ($given.serve | default dict) $k -}}
{{- fail (printf "config.serve.%s is set by the chart: use collectInterval, and containerPort for the port" $k) -}}
{{- end -}}
{{- end -}}
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

{{/* A Prometheus duration (30s, 1h30m, 2d, 1w) in whole seconds, for alert thresholds; anything else fails
the render (a wrong number would make an alert fire for ever, or never). */}}
{{- define "ownership.seconds" -}}
{{- $d := toString . -}}
{{- if not (regexMatch "^([0-9]+(ms|s|m|h|d|w|y))+$" $d) -}}
{{- fail (printf "%q is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 7d)" $d) -}}
{{- end -}}
{{- $unit := dict "ms" 0 "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 "y" 31536000 -}}
{{- $total := 0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" $d -1 -}}
{{- $n := int (regexFind "^[0-9]+" .) -}}
{{- $u := regexFind "[a-z]+$" . -}}
{{- $total = add $total (mul $n (get $unit $u)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}


{{/* The Secret holding the API's bearer tokens: api.tokensSecret.name, else <fullname>-api-tokens. */}}
{{- define "ownership.tokensSecret" -}}
{{- .Values.api.tokensSecret.name | default (printf "%s-api-tokens" (include "ownership.fullname" .)) -}}
{{- end -}}
