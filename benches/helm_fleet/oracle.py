"""Real Helm v4's in-process render time for the Helm bench's releases (helm-python-sdk, Helm's
own Go library, the project's oracle): `oracle.py RELEASES.json`, where the file lists
`{"chart": dir, "values_files": [...], "name": ..., "namespace": ...}`. Every release is loaded
and rendered in this one process, as the built-in engine does in driftwatch's; the values files
are merged as `helm template -f` merges them. Prints one JSON line: the releases, the seconds
spent loading + rendering them, and the rendered templates (for a sanity check), so the bench
reports Helm's own engine beside driftwatch's without any process start-up per release.
"""
import json
import os
import sys
import time

# `-f` files are read as the `helm template` stand-in reads them (documents merged as Helm does).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../crates/helm/tests/oracle"))
from helm_template import load_values, merge_maps  # noqa: E402
from helm_python.chart import Chart  # noqa: E402


def main():
    releases = json.load(open(sys.argv[1]))
    # The values files are read before the clock starts (as the bench's in-process run of the
    # helm crate does); parsing them is timed, on both sides.
    for r in releases:
        r["texts"] = [(f, open(f).read()) for f in r["values_files"]]
    templates = 0
    start = time.perf_counter()
    for r in releases:
        values = {}
        for f, text in r["texts"]:
            values = merge_maps(values, load_values(text, f))
        chart = Chart.load(r["chart"])
        out = chart.render(values, name=r["name"], namespace=r["namespace"], is_install=True)
        templates += len(out)
    seconds = time.perf_counter() - start
    print(json.dumps({"releases": len(releases), "seconds": seconds, "templates": templates}))


if __name__ == "__main__":
    main()
