"""The Helm oracle: real Helm v4 (helm-python-sdk, Helm's own Go library) rendering charts offline.

One request per input line, one answer per output line, both JSON, so a test starts it once:
  request: {"chart": "<dir or .tgz>", "values": {...} | null, "name": "rel", "namespace": "ns",
            "is_install": true, "op": "render" | "merge_values" | "metadata"}
  answer:  {"ok": {...}} with, for "render", template path -> rendered text (Helm's engine
           output, NOTES.txt included as Helm returns it), or {"error": "<Helm's message>"}.
Values go in as JSON (numbers become float64, as with --set-json / -f of JSON).
"""
import json
import sys

from helm_python.chart import Chart


def answer(req):
    path = req["chart"]
    chart = Chart.load_archive(open(path, "rb").read()) if path.endswith(".tgz") else Chart.load(path)
    op = req.get("op", "render")
    if op == "merge_values":
        return chart.merge_values(req.get("values"))
    if op == "metadata":
        return chart.metadata
    return chart.render(
        req.get("values"),
        name=req.get("name", "release"),
        namespace=req.get("namespace", "default"),
        is_install=req.get("is_install", True),
    )


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = {"ok": answer(json.loads(line))}
        except Exception as e:  # Helm's error text is what the tests compare
            out = {"error": str(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
