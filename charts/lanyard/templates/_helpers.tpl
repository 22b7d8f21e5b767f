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

{{/* Seconds in a duration that values.schema.json has already checked: 1h30m, 90s, 5m. */}}
{{- define "lanyard.seconds" -}}
{{- $hours := regexFind "[0-9]+h" . | trimSuffix "h" | default "0" | atoi -}}
{{- $minutes := regexFind "[0-9]+m" . | trimSuffix "m" | default "0" | atoi -}}
{{- $seconds := regexFind "[0-9]+s" . | trimSuffix "s" | default "0" | atoi -}}
{{- add (mul $hours 3600) (mul $minutes 60) $seconds -}}
{{- end }}

{{/*
Checks between values that a JSON schema cannot express, with the rules the controller applies
to the same settings (controller/config.ts), so that a bad combination fails at
`helm install`/`helm template` rather than in a crash-looping pod.
*/}}
{{- define "lanyard.validate" -}}
{{- $ca := .Values.ca -}}
{{- $ttl := include "lanyard.seconds" $ca.svidTtl | atoi -}}
{{- $min := include "lanyard.seconds" $ca.svidMinTtl | atoi -}}
{{- $max := include "lanyard.seconds" $ca.svidMaxTtl | atoi -}}
{{- $jwt := include "lanyard.seconds" $ca.jwtSvidTtl | atoi -}}
{{- if lt $min 60 -}}
{{- fail (printf "ca.svidMinTtl (%s) must be at least 1m" $ca.svidMinTtl) -}}
{{- end -}}
{{- if gt $max 2592000 -}}
{{- fail (printf "ca.svidMaxTtl (%s) must be at most 720h (30 days)" $ca.svidMaxTtl) -}}
{{- end -}}
{{- if lt $ttl $min -}}
{{- fail (printf "ca.svidTtl (%s) must not be shorter than ca.svidMinTtl (%s)" $ca.svidTtl $ca.svidMinTtl) -}}
{{- end -}}
{{- if gt $ttl $max -}}
{{- fail (printf "ca.svidTtl (%s) must not be longer than ca.svidMaxTtl (%s)" $ca.svidTtl $ca.svidMaxTtl) -}}
{{- end -}}
{{- if or (le $jwt 0) (gt $jwt 3600) -}}
{{- fail (printf "ca.jwtSvidTtl (%s) must be positive and at most 1h" $ca.jwtSvidTtl) -}}
{{- end -}}
{{- $monitor := .Values.monitor -}}
{{- $blockTtl := include "lanyard.seconds" $monitor.autoBlock.ttl | atoi -}}
{{- if or (lt $blockTtl 1) (gt $blockTtl 604800) -}}
{{- fail (printf "monitor.autoBlock.ttl (%s) must be from 1s to 168h (7 days)" $monitor.autoBlock.ttl) -}}
{{- end -}}
{{- range $name, $detector := $monitor.detectors -}}
{{- $window := include "lanyard.seconds" $detector.window | atoi -}}
{{- if or (lt $window 1) (gt $window 86400) -}}
{{- fail (printf "monitor.detectors.%s.window (%s) must be from 1s to 24h" $name $detector.window) -}}
{{- end -}}
{{- end -}}
{{- if and $monitor.webhook.secretName (not $monitor.webhook.url) -}}
{{- fail "monitor.webhook.secretName needs monitor.webhook.url" -}}
{{- end -}}
{{- if and $monitor.webhook.secretName (not (hasPrefix "https://" $monitor.webhook.url)) -}}
{{- fail "monitor.webhook.url must be https when monitor.webhook.secretName sends a secret header" -}}
{{- end -}}
{{- if and .Values.injection.evictPodsWithoutSidecar (not .Values.injection.enabled) -}}
{{- fail "injection.evictPodsWithoutSidecar needs injection.enabled: without the webhook, an evicted pod comes back without a sidecar" -}}
{{- end -}}
{{- end }}

{{/* The MutatingWebhookConfiguration whose caBundle the controller fills (LANYARD_WEBHOOK_CONFIG_NAME). */}}
{{- define "lanyard.webhookConfigName" -}}
lanyard-injector
{{- end }}
