{{ define "bad" }}

  {{ fail "from helper" }}{{ end }}