{{/*
The labels Helm adds to every object it renders, beside the ones the
kustomize base sets (test/chart strips these two, and only these, before
comparing the chart with the overlays).
*/}}
{{- define "tailor.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tailor.labels" -}}
app.kubernetes.io/name: tailor
app.kubernetes.io/part-of: tailor
{{ include "tailor.helmLabels" . }}
{{- end }}

{{- define "tailor.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* The webhook configurations' annotations in cert-manager mode. */}}
{{- define "tailor.injectCA" -}}
{{- if eq .Values.certificates.mode "cert-manager" -}}
annotations:
  # cert-manager's CA injector copies ca.crt from the Secret of Certificate
  # tailor-system/tailor-webhook into every webhook's clientConfig.caBundle.
  cert-manager.io/inject-ca-from: tailor-system/tailor-webhook
{{- end }}
{{- end }}
