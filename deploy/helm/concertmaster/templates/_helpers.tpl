{{- define "concertmaster.name" -}}{{ .Release.Name }}-concertmaster{{- end -}}

{{- define "concertmaster.labels" -}}
app.kubernetes.io/name: concertmaster
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "concertmaster.selector" -}}
app.kubernetes.io/name: concertmaster
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "concertmaster.secretName" -}}
{{- if .Values.existingSecret -}}{{ .Values.existingSecret }}{{- else -}}{{ include "concertmaster.name" . }}{{- end -}}
{{- end -}}

{{/* The environment every process shares: the Secret's keys, then the plain configuration. */}}
{{- define "concertmaster.env" -}}
- name: LISTEN_ADDR
  value: "0.0.0.0:8080"
- name: METRICS_ADDR
  value: "0.0.0.0:{{ .Values.metricsPort }}"
- name: DATA_DIR
  value: /var/lib/concertmaster
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- range $name := list "DATABASE_URL" "SECRET_KEY" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef: {name: {{ include "concertmaster.secretName" $ }}, key: {{ $name }}}
{{- end }}
{{- range $name := list "REDIS_URL" "SECRET_KEY_PREVIOUS" "SMTP_URL" "METRICS_TOKEN" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef: {name: {{ include "concertmaster.secretName" $ }}, key: {{ $name }}, optional: true}
{{- end }}
{{- end -}}

{{- define "concertmaster.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}

{{- define "concertmaster.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  fsGroup: 65532
{{- end -}}

{{- define "concertmaster.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
{{- end -}}
