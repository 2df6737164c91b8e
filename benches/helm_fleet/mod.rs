//! The generated Helm fleet `benches/helm.rs` audits: N releases × M environments in a real git
//! repository, one chart per release shaped like ingress-nginx's (a `_helpers.tpl` of
//! `define`s used through `include`, `tpl` over values, a subchart under `charts/` behind a
//! `condition`, `if`/`with`/`range` over values, `toYaml | nindent`, a pre-install hook Job, an
//! Ingress and an HPA only where the environment enables them) with a values file per
//! environment; one cluster snapshot per environment holding exactly what the chart renders,
//! plus a few deliberate drifts whose findings are known in advance (so every timed run is
//! checked to be a correct audit, not an error path).
//!
//! `apps/<app>/chart/` is the chart (named after the app, released under its name, so the
//! workloads are `<app>` and `<app>-metrics`); `apps/<app>/chart/values-<env>.yaml` pins the
//! app image's digest per environment, the replicas, the config and what is enabled.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::fleet::{CREATED, Drift, digest, drift, env_names, init_and_commit, snapshots, write};
use crate::measure::Expected;

pub const REGISTRY: &str = "registry.example.com/edge";
pub struct HelmFleet {
    pub apps: usize,
    pub envs: Vec<String>,
    /// The git repository's work tree (what `[gitops] url` points at).
    pub repo: PathBuf,
    /// One snapshot per environment, in the order of `envs`.
    pub snapshots: Vec<PathBuf>,
}

pub fn app_name(app: usize) -> String {
    format!("app-{app:04}")
}

pub fn namespace(app: usize, env: &str) -> String {
    format!("{env}-team-{:02}", app % 25)
}

fn declared_digest(app: usize, env: &str) -> String {
    digest(&format!("{}/{env}", app_name(app)))
}

fn previous_digest(app: usize, env: &str) -> String {
    digest(&format!("{}/{env}/previous", app_name(app)))
}

fn metrics_image() -> String {
    format!("{REGISTRY}/metrics-exporter@{}", digest("metrics-exporter"))
}

fn app_image(app: usize, digest: &str) -> String {
    format!("{REGISTRY}/{}@{digest}", app_name(app))
}

fn is_prod(env: &str) -> bool {
    env.starts_with("prod")
}

fn replicas(env: &str) -> usize {
    if is_prod(env) { 3 } else { 2 }
}

/// The metrics subchart is off in `dev` (its `condition`).
fn metrics_enabled(env: &str) -> bool {
    env != "dev"
}

/// The ConfigMap data the chart renders for `app` in `env` (keys sorted, as `range` walks a map).
fn config_data(app: usize, env: &str) -> BTreeMap<String, String> {
    let ns = namespace(app, env);
    [
        ("allow-snippet-annotations", "false".to_string()),
        ("environment", env.to_string()),
        ("log-level", if is_prod(env) { "warn" } else { "debug" }.to_string()),
        ("proxy-body-size", "8m".to_string()),
        ("upstream", format!("{}.{ns}.svc.cluster.local", app_name(app))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

const HELPERS: &str = r#"{{/* Names and labels, as ingress-nginx's _helpers.tpl builds them. */}}
{{- define "edge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "edge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "edge.labels" -}}
helm.sh/chart: {{ include "edge.chart" . }}
{{ include "edge.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "edge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "edge.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{- define "edge.image" -}}
{{- $registry := .Values.global.image.registry | default .Values.image.registry -}}
{{- if .Values.image.digest -}}
{{- printf "%s/%s@%s" $registry .Values.image.image .Values.image.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $registry .Values.image.image (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "edge.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "edge.labels" . | nindent 4 }}
    app.kubernetes.io/component: controller
  {{- with .Values.controller.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: {{ .Values.revisionHistoryLimit }}
  selector:
    matchLabels:
      {{- include "edge.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "edge.selectorLabels" . | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    spec:
      serviceAccountName: {{ include "edge.serviceAccountName" . }}
      terminationGracePeriodSeconds: {{ .Values.controller.terminationGracePeriodSeconds }}
      containers:
        - name: controller
          image: {{ include "edge.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          args:
            - /edge-controller
            - --election-id={{ include "edge.fullname" . }}-leader
            - --configmap=$(POD_NAMESPACE)/{{ include "edge.fullname" . }}
            {{- range $key, $value := .Values.controller.extraArgs }}
            - --{{ $key }}{{ if $value }}={{ tpl (toString $value) $ }}{{ end }}
            {{- end }}
          env:
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            {{- range .Values.controller.extraEnvs }}
            - name: {{ .name }}
              value: {{ tpl .value $ | quote }}
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "edge.fullname" . }}
          ports:
            {{- range $name, $port := .Values.controller.containerPort }}
            - name: {{ $name }}
              containerPort: {{ $port }}
              protocol: TCP
            {{- end }}
          {{- if .Values.controller.livenessProbe.enabled }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ .Values.controller.healthPort }}
            {{- omit .Values.controller.livenessProbe "enabled" | toYaml | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml .Values.controller.resources | nindent 12 }}
      {{- with .Values.controller.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.controller.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
"#;

const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "edge.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "edge.labels" . | nindent 4 }}
data:
  allow-snippet-annotations: {{ .Values.controller.allowSnippetAnnotations | quote }}
  {{- range $key, $value := .Values.config }}
  {{ $key }}: {{ tpl (toString $value) $ | quote }}
  {{- end }}
"#;

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {{ include "edge.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "edge.labels" . | nindent 4 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .Values.service.type }}
  ports:
    {{- range $name, $port := .Values.service.ports }}
    - name: {{ $name }}
      port: {{ $port }}
      targetPort: {{ $name }}
      protocol: TCP
    {{- end }}
  selector:
    {{- include "edge.selectorLabels" . | nindent 4 }}
"#;

const INGRESS: &str = r#"{{- if .Values.ingress.enabled -}}
{{- $fullName := include "edge.fullname" . -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $fullName }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "edge.labels" . | nindent 4 }}
spec:
  ingressClassName: {{ .Values.ingress.className }}
  {{- if .Values.ingress.tls }}
  tls:
    {{- range .Values.ingress.tls }}
    - hosts:
        {{- range .hosts }}
        - {{ tpl . $ | quote }}
        {{- end }}
      secretName: {{ .secretName }}
    {{- end }}
  {{- end }}
  rules:
    {{- range .Values.ingress.hosts }}
    - host: {{ tpl .host $ | quote }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ .path }}
            pathType: {{ .pathType | default "Prefix" }}
            backend:
              service:
                name: {{ $fullName }}
                port:
                  name: http
          {{- end }}
    {{- end }}
{{- end }}
"#;

const HPA: &str = r#"{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "edge.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "edge.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "edge.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    {{- with .Values.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
"#;

const SERVICE_ACCOUNT: &str = r#"{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "edge.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "edge.labels" . | nindent 4 }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- end }}
"#;

/// A pre-install hook, as ingress-nginx's admission webhook patch Job: rendered, then left out
/// of the comparison (the cluster does not keep hooks).
const HOOK: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "edge.fullname" . }}-admission-create
  namespace: {{ .Release.Namespace }}
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
  labels:
    {{- include "edge.labels" . | nindent 4 }}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: create
          image: {{ printf "%s/kube-webhook-certgen@%s" .Values.global.image.registry .Values.admission.digest | quote }}
          args:
            - create
            - --namespace=$(POD_NAMESPACE)
            - --secret-name={{ include "edge.fullname" . }}-admission
"#;

const METRICS_HELPERS: &str = r#"{{- define "metrics.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
"#;

const METRICS_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "metrics.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .Chart.Name }}
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ .Chart.Name }}
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: exporter
          image: "{{ .Values.global.image.registry }}/{{ .Values.image.image }}@{{ .Values.image.digest }}"
          args:
            {{- range .Values.scrape }}
            - --scrape={{ . }}
            {{- end }}
          ports:
            - name: metrics
              containerPort: {{ .Values.port }}
"#;

fn chart_yaml(app: usize) -> String {
    format!(
        "apiVersion: v2
name: {}
description: An edge proxy for one team's services
type: application
version: 4.{}.0
appVersion: \"1.{}.2\"
dependencies:
  - name: metrics
    version: 0.3.0
    condition: metrics.enabled
",
        app_name(app),
        app % 7,
        app % 11
    )
}

fn values_yaml(app: usize) -> String {
    format!(
        "global:
  image:
    registry: {REGISTRY}
nameOverride: \"\"
fullnameOverride: \"\"
commonLabels:
  team: team-{team:02}
replicaCount: 1
revisionHistoryLimit: 10
image:
  registry: docker.io/library
  image: {app}
  tag: \"\"
  digest: \"\"
  pullPolicy: IfNotPresent
controller:
  annotations: {{}}
  allowSnippetAnnotations: false
  terminationGracePeriodSeconds: 300
  healthPort: 10254
  containerPort:
    http: 80
    https: 443
  extraArgs:
    enable-ssl-passthrough: \"\"
    publish-service: \"{{{{ .Release.Namespace }}}}/{{{{ include \\\"edge.fullname\\\" . }}}}\"
  extraEnvs:
    - name: RELEASE
      value: \"{{{{ .Release.Name }}}}-{{{{ .Chart.Version }}}}\"
  livenessProbe:
    enabled: true
    initialDelaySeconds: 10
    periodSeconds: 10
    failureThreshold: 5
  resources:
    requests:
      cpu: 100m
      memory: 90Mi
  nodeSelector:
    kubernetes.io/os: linux
  tolerations: []
config:
  proxy-body-size: 8m
  upstream: \"{{{{ include \\\"edge.fullname\\\" . }}}}.{{{{ .Release.Namespace }}}}.svc.cluster.local\"
service:
  type: ClusterIP
  annotations: {{}}
  ports:
    http: 80
    https: 443
ingress:
  enabled: false
  className: nginx
  hosts: []
  tls: []
autoscaling:
  enabled: false
  minReplicas: 2
  maxReplicas: 10
  targetCPUUtilizationPercentage: 80
serviceAccount:
  create: true
  name: \"\"
  automountServiceAccountToken: true
admission:
  digest: {admission}
metrics:
  enabled: false
",
        team = app % 25,
        app = app_name(app),
        admission = digest("kube-webhook-certgen"),
    )
}

fn env_values(app: usize, env: &str) -> String {
    let mut v = format!(
        "environment: {env}
replicaCount: {replicas}
image:
  digest: {digest}
config:
  environment: \"{{{{ .Values.environment }}}}\"
  log-level: {level}
metrics:
  enabled: {metrics}
",
        replicas = replicas(env),
        digest = declared_digest(app, env),
        level = if is_prod(env) { "warn" } else { "debug" },
        metrics = metrics_enabled(env),
    );
    if env != "dev" {
        write!(
            v,
            "ingress:
  enabled: true
  hosts:
    - host: \"{{{{ .Release.Name }}}}.{env}.example.com\"
      paths:
        - path: /
  tls:
    - hosts: [\"{{{{ .Release.Name }}}}.{env}.example.com\"]
      secretName: {app}-tls
",
            app = app_name(app)
        )
        .unwrap();
    }
    if is_prod(env) {
        v.push_str("controller:\n  annotations:\n    prometheus.io/scrape: \"true\"\n  extraArgs:\n    v: \"2\"\n");
    }
    v
}

fn chart_files(dir: &Path, app: usize, envs: &[String]) {
    let t = |f: &str| dir.join("templates").join(f);
    write(&dir.join("Chart.yaml"), &chart_yaml(app));
    write(&dir.join("values.yaml"), &values_yaml(app));
    write(&t("_helpers.tpl"), HELPERS);
    write(&t("deployment.yaml"), DEPLOYMENT);
    write(&t("configmap.yaml"), CONFIGMAP);
    write(&t("service.yaml"), SERVICE);
    write(&t("ingress.yaml"), INGRESS);
    write(&t("hpa.yaml"), HPA);
    write(&t("serviceaccount.yaml"), SERVICE_ACCOUNT);
    write(&t("admission-job.yaml"), HOOK);
    write(
        &t("NOTES.txt"),
        "{{ include \"edge.fullname\" . }} is listening on {{ .Values.service.ports.http }}.\n",
    );
    let sub = dir.join("charts/metrics");
    write(
        &sub.join("Chart.yaml"),
        "apiVersion: v2\nname: metrics\nversion: 0.3.0\nappVersion: \"0.9.1\"\n",
    );
    write(
        &sub.join("values.yaml"),
        &format!(
            "replicaCount: 1\nport: 9113\nimage:\n  image: metrics-exporter\n  digest: {}\nscrape:\n  - connections\n  - requests\n",
            digest("metrics-exporter")
        ),
    );
    write(&sub.join("templates/_helpers.tpl"), METRICS_HELPERS);
    write(&sub.join("templates/deployment.yaml"), METRICS_DEPLOYMENT);
    for env in envs {
        write(&dir.join(format!("values-{env}.yaml")), &env_values(app, env));
    }
}

/// A Deployment named `name` with `replicas` Pods, its ReplicaSet and Pods as `kubectl get -o
/// json` lists them; `running(p)` is the digest Pod `p` runs of the one container.
fn workload(
    ns: &str,
    name: &str,
    container: &str,
    image: &str,
    replicas: usize,
    running: &dyn Fn(usize) -> String,
    items: &mut Vec<Value>,
) {
    let labels = json!({"app.kubernetes.io/instance": name});
    let tmpl = json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": container, "image": image}]}});
    let uid = format!("{ns}-{name}");
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("d-{uid}"), "generation": 2, "creationTimestamp": CREATED,
                     "labels": labels, "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": tmpl},
        "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}}));
    let rs = format!("{name}-6c9f7d8b5");
    items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": rs, "namespace": ns, "uid": format!("rs-{uid}"), "creationTimestamp": CREATED, "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": format!("d-{uid}"), "controller": true}]},
        "spec": {"replicas": replicas, "template": tmpl},
        "status": {"replicas": replicas, "readyReplicas": replicas}}));
    let repo = image.split('@').next().unwrap_or(image);
    for p in 0..replicas {
        items.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{rs}-p{p}"), "namespace": ns, "uid": format!("p-{uid}-{p}"), "creationTimestamp": CREATED, "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": format!("rs-{uid}"), "controller": true}]},
            "spec": tmpl["spec"],
            "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": container, "image": image, "imageID": format!("{repo}@{}", running(p)), "ready": true, "restartCount": 0,
                                       "state": {"running": {"startedAt": CREATED}}}]}}));
    }
}

/// The live objects of one release in one environment.
fn live_objects(app: usize, env: &str, items: &mut Vec<Value>) {
    let name = app_name(app);
    let ns = namespace(app, env);
    let (want, old) = (declared_digest(app, env), previous_digest(app, env));
    let d = drift(app);
    let spec = if d == Some(Drift::Spec) { &old } else { &want };
    let running = |p: usize| {
        if d == Some(Drift::Mixed) && p == 0 {
            old.clone()
        } else {
            spec.clone()
        }
    };
    let image = app_image(app, spec);
    workload(&ns, &name, "controller", &image, replicas(env), &running, items);
    if metrics_enabled(env) {
        let metrics = metrics_image();
        let digest = metrics.split('@').nth(1).unwrap().to_string();
        workload(
            &ns,
            &format!("{name}-metrics"),
            "exporter",
            &metrics,
            1,
            &|_| digest.clone(),
            items,
        );
    }
    let mut data = config_data(app, env);
    if d == Some(Drift::Config) {
        data.insert("log-level".into(), "trace".into());
    }
    items.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "uid": format!("cm-{ns}-{name}"), "creationTimestamp": CREATED},
        "data": data}));
}

impl HelmFleet {
    /// Writes the repository (one commit) under `dir/gitops` and the snapshots beside it.
    pub fn generate(dir: &Path, apps: usize, envs: usize) -> Self {
        let envs = env_names(envs);
        let repo = dir.join("gitops");
        for app in 0..apps {
            chart_files(&repo.join("apps").join(app_name(app)).join("chart"), app, &envs);
        }
        init_and_commit(&repo, "the generated Helm fleet");
        let snapshots = snapshots(dir, &envs, apps, live_objects);
        Self {
            apps,
            envs,
            repo,
            snapshots,
        }
    }

    pub fn releases(&self) -> usize {
        self.apps * self.envs.len()
    }

    pub fn pods(&self) -> usize {
        self.envs
            .iter()
            .map(|env| self.apps * (replicas(env) + usize::from(metrics_enabled(env))))
            .sum()
    }

    /// The chart directory of `app`, repository-relative.
    pub fn chart(app: usize) -> String {
        format!("apps/{}/chart", app_name(app))
    }

    /// The values file of `app` in `env`, repository-relative.
    pub fn values_file(app: usize, env: &str) -> String {
        format!("{}/values-{env}.yaml", Self::chart(app))
    }

    /// The findings a correct audit reports: one per deliberate drift, in every environment.
    pub fn expected(&self) -> Vec<Expected> {
        let mut out = Vec::new();
        for env in &self.envs {
            for app in 0..self.apps {
                let ns = namespace(app, env);
                let f = match drift(app) {
                    None => continue,
                    Some(Drift::Spec) => ("spec-drift", Some("controller")),
                    Some(Drift::Mixed) => ("mixed-rollout", Some("controller")),
                    Some(Drift::Config) => ("config-drift", None),
                };
                out.push((f.0.to_string(), env.clone(), ns, app_name(app), f.1.map(str::to_string)));
            }
        }
        out.sort();
        out
    }
}
