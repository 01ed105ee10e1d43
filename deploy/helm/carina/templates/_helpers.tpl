{{/* Labels on every object. */}}
{{- define "carina.labels" -}}
app.kubernetes.io/name: carina
app.kubernetes.io/part-of: carina
app.kubernetes.io/component: agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The selector of the agent's pods. */}}
{{- define "carina.selector" -}}
app.kubernetes.io/name: carina
app.kubernetes.io/component: agent
{{- end -}}

{{/* The image reference: repository@digest, or repository:tag. */}}
{{- define "carina.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* carina.yaml: the config value, leader election in the release namespace by default. */}}
{{- define "carina.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $le := get $cfg "leaderElection" | default dict -}}
{{- if not (get $le "namespace") -}}
{{- $_ := set $le "namespace" .Release.Namespace -}}
{{- end -}}
{{- $_ := set $cfg "leaderElection" $le -}}
{{ toYaml $cfg }}
{{- end -}}

{{/* The agent as an RBAC subject. */}}
{{- define "carina.subject" -}}
- kind: ServiceAccount
  name: {{ .Values.serviceAccount.name }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
