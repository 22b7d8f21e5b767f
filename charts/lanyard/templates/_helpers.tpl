{{/* Labels on every object of the chart. */}}
{{- define "lanyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: lanyard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lanyard
{{- end }}

{{/* Selects the controller pods. */}}
{{- define "lanyard.selectorLabels" -}}
app.kubernetes.io/name: lanyard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Cluster-scoped objects carry the namespace in their name: two releases never collide. */}}
{{- define "lanyard.clusterName" -}}
lanyard-controller-{{ .Release.Namespace }}
{{- end }}

{{- define "lanyard.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
