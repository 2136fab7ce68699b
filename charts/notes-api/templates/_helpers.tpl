{{/* Names and labels shared by every manifest of the chart. */}}

{{- define "notes-api.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "notes-api.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "notes-api.labels" -}}
{{ include "notes-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The `helm test` pod's labels: not the API's selector labels, or the Service, the PDB and the
NetworkPolicy would count the test client as one of the API's pods.
*/}}
{{- define "notes-api.smokeLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-smoke
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: smoke-test
{{- end -}}

{{/* The image by digest only; the schema already refuses a tag, this keeps a template edit honest. */}}
{{- define "notes-api.image" -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- end -}}

{{/*
The lowest replica count the Deployment can have must exceed the PDB's minAvailable. JSON Schema
cannot compare two values of the same document (only if/then over enumerated constants), so the
check lives here and fails the render with the keys to change. Equal counts are refused too: a PDB
that allows no eviction blocks every node drain.
*/}}
{{- define "notes-api.checkReplicas" -}}
{{- $floor := ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled -}}
{{- $key := ternary "autoscaling.minReplicas" "replicaCount" .Values.autoscaling.enabled -}}
{{- if le (int $floor) (int .Values.podDisruptionBudget.minAvailable) -}}
{{- fail (printf "values: %s (%d) must exceed podDisruptionBudget.minAvailable (%d): with no pod to spare, every node drain stalls" $key (int $floor) (int .Values.podDisruptionBudget.minAvailable)) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) -}}
{{- fail (printf "values: autoscaling.maxReplicas (%d) is below autoscaling.minReplicas (%d)" (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) -}}
{{- end -}}
{{- end -}}

{{/* preStop (the ALB's deregistration delay) + the API's drain + its grace + a margin. */}}
{{- define "notes-api.terminationGrace" -}}
{{- add .Values.shutdown.deregistrationDelaySeconds .Values.shutdown.drainSeconds .Values.shutdown.graceSeconds .Values.shutdown.marginSeconds -}}
{{- end -}}
