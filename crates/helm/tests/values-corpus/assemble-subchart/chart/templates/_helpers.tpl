{{ define "x" }}kind: Nope{{ end }}
