"""`helm template` as Helm v4 prints it, around helm-python-sdk's real rendering (see ./helm)."""
import json
import os
import re
import sys
import time

from helm_python import parse_set_json, values_from_yaml
from helm_python.chart import Chart

INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
    "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
    "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]
EVENTS = {"pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade", "post-upgrade",
          "pre-rollback", "post-rollback", "test", "test-success"}
SEP = re.compile(r"(?:^|\s*\n)---\s*")


class Fail(Exception):
    pass


def merge_maps(a, b):
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_maps(out[k], v)
        else:
            out[k] = v
    return out


def load_values(text, name):
    """loader.LoadValues: documents split as Kubernetes' YAMLReader splits them, merged."""
    values, doc = {}, []
    docs = []
    for line in text.splitlines(keepends=True):
        if line.startswith("---"):
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                raise Fail(f"failed to parse {name}: error reading yaml document: invalid Yaml document separator: {rest}")
            if doc:
                docs.append("".join(doc))
                doc = []
            continue
        doc.append(line)
    if doc:
        docs.append("".join(doc))
    for d in docs:
        try:
            values = merge_maps(values, values_from_yaml(d) or {})
        except Exception as e:
            raise Fail(f"failed to parse {name}: cannot unmarshal yaml document: {e}")
    return values


def version(argv):
    """`helm version --short`. kustomize v5.5.0 (kubectl's) asks `helm version -c --short` and
    accepts only Helm v3 there; the stand-in says v3 to it (Helm v3's `-c` flag) and v4 otherwise.
    Rendering is Helm v4's either way."""
    return "v3.99.0+stand-in\n" if "-c" in argv or "--client" in argv else "v4.0.0+stand-in\n"


def parse_args(argv):
    if not argv or argv[0] != "template":
        raise Fail("only `helm template` and `helm version` are supported")
    opts = {"files": [], "json": [], "ns": "default", "kube": None, "crds": False, "hooks": True, "tests": True}
    positional, i = [], 1
    while i < len(argv):
        a = argv[i]
        takes = {"-n": "ns", "--namespace": "ns", "--kube-version": "kube"}
        if a in takes:
            opts[takes[a]] = argv[i + 1]
            i += 2
        elif a in ("-f", "--values"):
            opts["files"].append(argv[i + 1])
            i += 2
        elif a == "--set-json":
            opts["json"].append(argv[i + 1])
            i += 2
        elif a in ("--api-versions", "-a"):
            i += 2
        elif a == "--generate-name" or a == "-g":
            opts["generate"], i = True, i + 1
        elif a == "--name-template":
            opts["name_template"], i = argv[i + 1], i + 2
        elif a == "--debug":
            i += 1
        elif a == "--include-crds":
            opts["crds"], i = True, i + 1
        elif a == "--no-hooks":
            opts["hooks"], i = False, i + 1
        elif a == "--skip-tests":
            opts["tests"], i = False, i + 1
        else:
            positional.append(a)
            i += 1
    if len(positional) == 1:
        # pkg/action/install.go NameAndChart: a template name, else --generate-name's
        # `<chart base name>-<unix time>`.
        if opts.get("name_template"):
            raise Fail("--name-template is not supported by the stand-in")
        if opts.get("generate"):
            base = os.path.basename(positional[0].rstrip("/")).split(".")[0] or "chart"
            positional.insert(0, f"{base}-{int(time.time())}")
        else:
            positional.insert(0, "release-name")
    elif opts.get("generate"):
        raise Fail("cannot set --generate-name and also specify a name")
    opts["name"], opts["chart"] = positional[0], positional[1]
    return opts


def user_values(opts):
    base = {}
    for f in opts["files"]:
        base = merge_maps(base, load_values(open(f).read(), f))
    for j in opts["json"]:
        if j.strip().startswith("{"):
            base = merge_maps(base, json.loads(j))
        else:
            base = merge_maps(base, parse_set_json(j))
    return base


def check_chart(chart, opts):
    meta = chart.metadata
    if meta.get("type", "") not in ("", "application"):
        raise Fail(f"{meta['type']} charts are not installable")
    declared = [d["name"] for d in meta.get("dependencies") or []]
    present = {d["name"] for d in chart.dependencies}
    missing = [n for n in declared if n not in present]
    if declared and missing:
        raise Fail("an error occurred while checking for chart dependencies. You may need to run 'helm dependency "
                   "build' to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: "
                   + ", ".join(missing))


def split_manifests(text):
    return [d.lstrip() for d in SEP.split(text.lstrip()) if d.strip()]


def kind_key(kind):
    if kind in INSTALL_ORDER:
        return (0, INSTALL_ORDER.index(kind), "")
    return (1, 0, kind)


def sort_manifests(files):
    hooks, manifests = [], []
    for path in sorted(files):
        content = files[path]
        if path.rsplit("/", 1)[-1].startswith("_") or not content.strip():
            continue
        for doc in split_manifests(content):
            try:
                head = values_from_yaml(doc) or {}
            except Exception as e:
                raise Fail(f"YAML parse error on {path}: {e}")
            ann = (head.get("metadata") or {}).get("annotations") or {}
            if "helm.sh/hook" not in ann:
                manifests.append((path, doc, str(head.get("kind") or "")))
                continue
            events = [e.strip().lower() for e in str(ann["helm.sh/hook"]).split(",")]
            if any(e not in EVENTS for e in events):
                continue
            hooks.append((path, doc, str(head.get("kind") or ""), events))
    manifests.sort(key=lambda m: kind_key(m[2]))
    hooks.sort(key=lambda h: kind_key(h[2]))
    return hooks, manifests


def template(opts):
    path = opts["chart"]
    chart = Chart.load_archive(open(path, "rb").read()) if path.endswith(".tgz") else Chart.load(path)
    check_chart(chart, opts)
    vals = user_values(opts)
    crds = chart.crds if opts["crds"] else []
    rendered = chart.render(vals, name=opts["name"], namespace=opts["ns"], is_install=True)
    files = {k: v for k, v in rendered.items() if not k.endswith("NOTES.txt")}
    hooks, manifests = sort_manifests(files)
    body = "".join(f"---\n# Source: {c['filename']}\n{c['data']}\n" for c in crds)
    body += "".join(f"---\n# Source: {name}\n{doc}\n" for name, doc, _ in manifests)
    out = body.strip() + "\n"
    if opts["hooks"]:
        for p, doc, _, events in hooks:
            if not opts["tests"] and ("test" in events or "test-success" in events):
                continue
            out += f"---\n# Source: {p}\n{doc}\n"
    return out


def main():
    if sys.argv[1:2] == ["version"]:
        sys.stdout.write(version(sys.argv[2:]))
        return
    try:
        sys.stdout.write(template(parse_args(sys.argv[1:])))
    except Fail as e:
        sys.stderr.write(f"Error: {e}\n")
        sys.exit(1)
    except Exception as e:  # Helm's own error text
        sys.stderr.write(f"Error: {e}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
