{{/* Chart name. */}}
{{- define "aduan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; every object of a service is "<fullname>-<service>". */}}
{{- define "aduan.fullname" -}}
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

{{- define "aduan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aduan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aduan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aduan.labels" -}}
helm.sh/chart: {{ include "aduan.chart" . }}
{{ include "aduan.selectorLabels" . }}
app.kubernetes.io/part-of: aduan
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Objects of one service. Call with (dict "root" $ "svc" $svc). */}}
{{- define "aduan.componentName" -}}
{{- printf "%s-%s" (include "aduan.fullname" .root) .svc.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The service's own env prefix: sla-monitor -> ADUAN_SLA_MONITOR_. Call with the service entry. */}}
{{- define "aduan.envPrefix" -}}
{{- printf "ADUAN_%s_" (.name | replace "-" "_" | upper) -}}
{{- end -}}

{{/* The Secret holding every secret value. */}}
{{- define "aduan.secretName" -}}
{{- .Values.secrets.name | default (printf "%s-secrets" (include "aduan.fullname" .)) -}}
{{- end -}}

{{/* Image reference. Call with (dict "root" $ "name" <service> "image" <entry's image map or nil>). */}}
{{- define "aduan.image" -}}
{{- $img := .image | default (dict) -}}
{{- $repo := $img.repository | default (printf "aduan/%s" .name) -}}
{{- $tag := $img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}
