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

{{/*
The export worker's names and labels. Its own app.kubernetes.io/name, not the API's: the API's
Service, PDB, HPA and NetworkPolicy select by the API's labels (a subset match), so worker pods
carrying them would be counted as API pods and sent API traffic.
*/}}
{{- define "notes-api.workerName" -}}
{{- printf "%s-worker" (include "notes-api.fullname" . | trunc 56 | trimSuffix "-") -}}
{{- end -}}

{{- define "notes-api.workerSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-worker
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}

{{- define "notes-api.workerLabels" -}}
{{ include "notes-api.workerSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
What the worker needs that JSON Schema cannot say: values required only when the worker is on, and
comparisons between two values. Each failure names the key to change.
*/}}
{{- define "notes-api.checkWorker" -}}
{{- $w := .Values.worker -}}
{{- range $key := list "queueUrl" "bucket" "region" -}}
{{- if not (index $.Values.exports $key) -}}
{{- fail (printf "values: exports.%s is required when worker.enabled is true: the worker consumes the export queue and writes to the export bucket, and the API sends to and presigns from them" $key) -}}
{{- end -}}
{{- end -}}
{{- if le (int $w.terminationGracePeriodSeconds) (int $w.shutdownGraceSeconds) -}}
{{- fail (printf "values: worker.terminationGracePeriodSeconds (%d) must exceed worker.shutdownGraceSeconds (%d): after the grace the worker still aborts the upload and returns the message to the queue, and the kubelet's SIGKILL must not cut that short" (int $w.terminationGracePeriodSeconds) (int $w.shutdownGraceSeconds)) -}}
{{- end -}}
{{- if eq $w.serviceAccount.name .Values.serviceAccount.name -}}
{{- fail (printf "values: worker.serviceAccount.name (%s) must differ from serviceAccount.name: Pod Identity binds one role per service account, and the worker's role must not be the API's" $w.serviceAccount.name) -}}
{{- end -}}
{{- if and $w.autoscaling.enabled (lt (int $w.autoscaling.maxReplicas) (int $w.autoscaling.minReplicas)) -}}
{{- fail (printf "values: worker.autoscaling.maxReplicas (%d) is below worker.autoscaling.minReplicas (%d)" (int $w.autoscaling.maxReplicas) (int $w.autoscaling.minReplicas)) -}}
{{- end -}}
{{- end -}}

{{/*
The export settings both Deployments read (app/notes_api/core/config.py, NOTES_EXPORT_*): one
list, so the API and the worker can never disagree on the queue, the bucket, the key prefix, the
retention or the receive count.
*/}}
{{- define "notes-api.exportEnv" -}}
- name: NOTES_AWS_REGION
  value: {{ .Values.exports.region | quote }}
- name: NOTES_EXPORT_QUEUE_URL
  value: {{ .Values.exports.queueUrl | quote }}
- name: NOTES_EXPORT_BUCKET
  value: {{ .Values.exports.bucket | quote }}
- name: NOTES_EXPORT_PREFIX
  value: {{ .Values.exports.prefix | quote }}
- name: NOTES_EXPORT_RETENTION_DAYS
  value: {{ .Values.exports.retentionDays | quote }}
- name: NOTES_EXPORT_MAX_RECEIVES
  value: {{ .Values.exports.maxReceives | quote }}
- name: NOTES_EXPORT_JOB_TIMEOUT_SECONDS
  value: {{ .Values.exports.jobTimeoutSeconds | quote }}
{{- end -}}

{{/*
The database users' hook Job (dbusers.enabled). Its own app.kubernetes.io/name, for the same reason
as the worker's: no selector of the API's may count a hook pod as an API pod.
*/}}
{{- define "notes-api.dbusersName" -}}
{{- printf "%s-dbusers" (include "notes-api.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{- define "notes-api.dbusersSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-dbusers
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: dbusers
{{- end -}}

{{- define "notes-api.dbusersLabels" -}}
{{ include "notes-api.dbusersSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The three objects of the dbusers hook run before every install and upgrade, and are deleted once
the Job succeeded (a failed Job stays for `kubectl logs` until the next release replaces it). The
ServiceAccount and the NetworkPolicy are hooks too, with a lower weight: a pre-install hook runs
before any of the chart's ordinary objects exist (Helm docs, "Chart Hooks": hooks are sorted by
weight, then created and, for a Job, waited on to completion, one weight after the other).
*/}}
{{- define "notes-api.dbusersHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}

{{/*
What the dbusers Job needs that JSON Schema cannot say (the schema already requires both ARNs when
it is on): comparisons between values. Each failure names the key to change.
*/}}
{{- define "notes-api.checkDbusers" -}}
{{- $d := .Values.dbusers -}}
{{- if ne $d.appSecretArn .Values.config.mongodbUriSecretArn -}}
{{- fail (printf "values: dbusers.appSecretArn (%s) must be config.mongodbUriSecretArn (%s): the Job creates the user named in the secret the API logs in with" $d.appSecretArn .Values.config.mongodbUriSecretArn) -}}
{{- end -}}
{{- if eq $d.masterSecretArn $d.appSecretArn -}}
{{- fail "values: dbusers.masterSecretArn must be the cluster's master user secret, not the app's (dbusers.appSecretArn)" -}}
{{- end -}}
{{- if eq $d.serviceAccount.name .Values.serviceAccount.name -}}
{{- fail (printf "values: dbusers.serviceAccount.name (%s) must differ from serviceAccount.name: only the Job's role may read the master secret" $d.serviceAccount.name) -}}
{{- end -}}
{{- if eq $d.serviceAccount.name .Values.worker.serviceAccount.name -}}
{{- fail (printf "values: dbusers.serviceAccount.name (%s) must differ from worker.serviceAccount.name: only the Job's role may read the master secret" $d.serviceAccount.name) -}}
{{- end -}}
{{- end -}}
