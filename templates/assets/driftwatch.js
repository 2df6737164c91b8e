// driftwatch status page: finding filters that only hide rows (without this script every row
// shows), and a poll that notices a newer audit. No network but the daemon's own
// /api/status/generation, and nothing at all in the standalone file.
(function () {
  "use strict";
  function $(id) { return document.getElementById(id); }

  function each(selector, f) { Array.prototype.forEach.call(document.querySelectorAll(selector), f); }

  // Filter state lives in the URL fragment, so a reload (or a shared link) keeps it.
  var FIELDS = ["env", "severity", "type", "text"];

  function readHash() {
    var state = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) { state[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1)); }
    });
    return state;
  }

  function writeHash() {
    var parts = [];
    FIELDS.forEach(function (k) {
      var v = $("filter-" + k).value;
      if (v) { parts.push(k + "=" + encodeURIComponent(v)); }
    });
    if (!$("filter-ignored").checked) { parts.push("ignored=hide"); }
    if (matrixInBrowser() && $("filter-matrix-problems").checked) { parts.push("matrix=problems"); }
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (history.replaceState) { history.replaceState(null, "", location.pathname + location.search + hash); }
  }

  function applyFindings() {
    var env = $("filter-env").value, sev = $("filter-severity").value, type = $("filter-type").value;
    var text = $("filter-text").value.trim().toLowerCase(), ignored = $("filter-ignored").checked;
    var shown = 0, total = 0;
    each("#findings-list .finding", function (f) {
      total += 1;
      var ok = (!env || f.getAttribute("data-env") === env) &&
        (!sev || f.getAttribute("data-severity") === sev) &&
        (!type || f.getAttribute("data-type") === type) &&
        (ignored || f.getAttribute("data-ignored") !== "true") &&
        (!text || f.textContent.toLowerCase().indexOf(text) >= 0);
      f.hidden = !ok;
      if (ok) { shown += 1; }
    });
    $("filter-count").textContent = shown + " of " + total + " finding" + (total === 1 ? "" : "s") + " shown";
  }

  // The daemon filters the matrix before paging it (?attention=true); only the standalone
  // file, which holds every row, filters in the browser.
  function matrixInBrowser() {
    var box = $("filter-matrix-problems");
    return box && box.getAttribute("data-server") !== "true";
  }

  function applyMatrix() {
    var box = $("filter-matrix-problems");
    if (!matrixInBrowser()) { return; }
    each("#matrix-table tbody", function (group) {
      var any = false;
      Array.prototype.forEach.call(group.querySelectorAll("tr[data-workload]"), function (row) {
        row.hidden = box.checked && row.getAttribute("data-problem") !== "true";
        if (!row.hidden) { any = true; }
      });
      group.hidden = !any;
    });
  }

  function setUp() {
    each(".js-only", function (el) { el.hidden = false; });
    if ($("filters")) {
      var state = readHash();
      FIELDS.forEach(function (k) { if (state[k]) { $("filter-" + k).value = state[k]; } });
      $("filter-ignored").checked = state.ignored !== "hide";
      if (matrixInBrowser()) { $("filter-matrix-problems").checked = state.matrix === "problems"; }
      $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
      $("filters").addEventListener("input", function () { applyFindings(); writeHash(); });
      $("filters").addEventListener("change", function () { applyFindings(); writeHash(); });
      applyFindings();
    }
    if (matrixInBrowser()) {
      $("filter-matrix-problems").addEventListener("change", function () { applyMatrix(); writeHash(); });
      applyMatrix();
    } else if ($("matrix-filter")) {
      each("#matrix-filter .no-js", function (el) { el.hidden = true; });
      $("filter-matrix-problems").addEventListener("change", function () { $("matrix-filter").submit(); });
    }
    poll();
  }

  // A newer audit reloads the page, unless the reader is busy with it (a finding open, a
  // filter being typed): then a banner offers the reload.
  function poll() {
    var url = document.body.getAttribute("data-poll");
    if (!url || !window.fetch) { return; }
    var seen = document.body.getAttribute("data-generation");
    setInterval(function () {
      fetch(url, { cache: "no-store", credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body || String(body.generation) === seen) { return; }
          var busy = document.querySelector("details[open]") ||
            (document.activeElement && document.activeElement.id === "filter-text");
          if (busy) { $("refresh-banner").hidden = false; } else { location.reload(); }
        })
        .catch(function () {});
    }, 30000);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setUp); } else { setUp(); }
})();
