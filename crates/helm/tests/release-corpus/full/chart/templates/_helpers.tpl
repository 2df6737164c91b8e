{{- define "full.name" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end -}}
