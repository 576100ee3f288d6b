// fleetrun report page: draws per-host rows on demand and sorts and
// filters tables. Host data only ever reaches the DOM through textContent,
// title and dataset, never as markup.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("fleetrun-data").textContent);
  var S = D.strs;
  var PAGE = 100;

  function str(i) { return S[i || 0] || ""; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function fmtMS(ms) {
    if (ms < 1000) return ms + "ms";
    if (ms < 10000) return (ms / 1000).toFixed(1) + "s";
    if (ms < 60000) return Math.floor(ms / 1000) + "s";
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (ms < 3600000) return Math.floor(ms / 60000) + "m" + pad(Math.floor(ms / 1000) % 60) + "s";
    return Math.floor(ms / 3600000) + "h" + pad(Math.floor(ms / 60000) % 60) + "m";
  }
  function fmtExit(c) {
    if (c > 0xFFFF) return c + " (0x" + ("0000000" + c.toString(16).toUpperCase()).slice(-8) + ")";
    return String(c);
  }
  function fmtBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }
  function byteLen(s) { return new TextEncoder().encode(s).length; }
  // clock shows a run offset as a time of day in the report's own zone.
  function clock(off) {
    if (!D.t0 || off === undefined || off === null) return "";
    return new Date(D.t0 + off + D.tz * 1000).toISOString().slice(11, 19);
  }

  // ---- timeline: one row per host of a batch, on the batch's own scale
  // rowOf finds the timeline row (a batch, or a run of batches) of a host.
  function rowOf(h) {
    for (var r = 0; r < D.rows.length; r++) if (h.b >= D.rows[r].f && h.b <= D.rows[r].t) return r;
    return -1;
  }
  var byRow = D.rows.map(function () { return []; });
  D.hosts.forEach(function (h, i) { var r = rowOf(h); if (r >= 0) byRow[r].push(i); });

  function hostRow(i, s0, s1) {
    var h = D.hosts[i], row = el("div", "hrow");
    row.dataset.host = String(i);
    var a = el("a", null, str(h.n));
    a.href = "#host-" + i;
    a.title = str(h.n) + ": " + h.s;
    row.appendChild(a);
    var track = el("div", "htrack"), width = Math.max(s1 - s0, 1);
    function place(bar, t, d) {
      bar.style.left = (100 * (t - s0) / width) + "%";
      bar.style.width = (100 * d / width) + "%";
      track.appendChild(bar);
    }
    if (h.t === undefined) {
      var ns = el("span", "bar skipband");
      ns.title = str(h.n) + ": " + (h.s === "skipped" ? "not started: " + str(h.r) : "no times recorded");
      place(ns, s0, width);
    } else {
      var skipped = [];
      h.st.forEach(function (st) {
        if (st.s === "skipped") skipped.push(str(st.n));
        if (st.t === undefined) return;
        var bar = el("span", "bar " + st.c);
        bar.title = str(st.n) + ": " + st.s + (st.o ? " (" + str(st.o) + ")" : "") +
          ", " + fmtMS(st.d || 0) + (st.x !== undefined ? ", exit " + fmtExit(st.x) : "") +
          (st.a > 1 ? ", " + st.a + " attempts" : "");
        place(bar, st.t, st.d || 0);
      });
      var end = h.t + (h.d || 0);
      if (skipped.length && end < s1) {
        var band = el("span", "bar skipband");
        band.title = "skipped: " + skipped.join(", ");
        place(band, end, s1 - end);
      }
    }
    if (D.budget !== undefined && D.budget >= s0 && D.budget <= s1) {
      var mk = el("i", "ml mk-budget");
      mk.style.left = (100 * (D.budget - s0) / width) + "%";
      mk.title = "failure budget spent at " + clock(D.budget);
      track.appendChild(mk);
    }
    row.appendChild(track);
    return row;
  }

  function drawRow(r, box) {
    var span = D.rows[r], hosts = byRow[r];
    var head = el("div", "hhead hrow"), scale = el("div", "hscale");
    head.appendChild(el("span", "sub", hosts.length + " hosts"));
    if (span.s !== undefined) {
      scale.appendChild(el("span", null, clock(span.s)));
      scale.appendChild(el("span", null, fmtMS(span.e - span.s)));
      scale.appendChild(el("span", null, clock(span.e)));
    } else {
      scale.appendChild(el("span", null, "no times recorded for these hosts"));
    }
    head.appendChild(scale);
    box.appendChild(head);
    var s0 = span.s || 0, s1 = span.e === undefined ? 1 : span.e;
    var frag = document.createDocumentFragment();
    hosts.forEach(function (i) { frag.appendChild(hostRow(i, s0, s1)); });
    box.appendChild(frag);
  }

  document.querySelectorAll("button.tl-label").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var r = Number(btn.dataset.row), box = document.getElementById("tl-hosts-" + r);
      var open = btn.getAttribute("aria-expanded") !== "true";
      if (open && !box.hasChildNodes()) drawRow(r, box);
      btn.setAttribute("aria-expanded", String(open));
      box.hidden = !open;
    });
  });

  // ---- host list: filtered, sorted, drawn a page at a time
  var list = document.getElementById("host-list"), more = document.getElementById("hf-more");
  var count = document.getElementById("hf-count"), q = document.getElementById("hf-q");
  var fStatus = document.getElementById("hf-status"), fBatch = document.getElementById("hf-batch");
  var fSort = document.getElementById("hf-sort");
  var matches = [], shown = 0;

  function retried(h) { return h.st.some(function (st) { return st.a > 1; }); }
  function keep(h, needle, status, row) {
    if (status === "rebooted" ? !h.rb : status === "retried" ? !retried(h) : status && h.s !== status) return false;
    if (row !== "" && (h.b < D.rows[row].f || h.b > D.rows[row].t)) return false;
    return !needle || str(h.n).toLowerCase().indexOf(needle) >= 0 || str(h.a).toLowerCase().indexOf(needle) >= 0;
  }
  function orderBy(key) {
    var H = D.hosts;
    function num(v, missing) { return v === undefined ? missing : v; }
    if (key === "name") return function (a, b) { return str(H[a].n) < str(H[b].n) ? -1 : str(H[a].n) > str(H[b].n) ? 1 : a - b; };
    if (key === "slow") return function (a, b) { return num(H[b].d, -1) - num(H[a].d, -1) || a - b; };
    if (key === "start") return function (a, b) { return num(H[a].t, Infinity) - num(H[b].t, Infinity) || a - b; };
    return function (a, b) { return a - b; };
  }
  function apply() {
    var needle = q.value.trim().toLowerCase();
    matches = [];
    for (var i = 0; i < D.hosts.length; i++) {
      if (keep(D.hosts[i], needle, fStatus.value, fBatch.value)) matches.push(i);
    }
    matches.sort(orderBy(fSort.value));
    list.textContent = "";
    shown = 0;
    showMore();
  }
  function showMore() {
    var frag = document.createDocumentFragment(), end = Math.min(matches.length, shown + PAGE);
    for (; shown < end; shown++) frag.appendChild(hostEntry(matches[shown]));
    list.appendChild(frag);
    more.hidden = shown >= matches.length;
    more.textContent = "Show " + Math.min(PAGE, matches.length - shown) + " more";
    count.textContent = matches.length + " of " + D.hosts.length + " hosts" +
      (shown < matches.length ? ", showing the first " + shown : "");
  }
  function hostEntry(i) {
    var h = D.hosts[i], d = el("details", "host"), sum = el("summary");
    d.id = "host-" + i;
    sum.appendChild(el("span", "badge " + h.s, h.s));
    sum.appendChild(el("b", null, str(h.n)));
    if (h.a) sum.appendChild(el("span", "sub", str(h.a)));
    sum.appendChild(el("span", "sub", "batch " + (h.b + 1) + " of " + D.nb));
    if (h.d !== undefined) sum.appendChild(el("span", "sub", fmtMS(h.d)));
    if (h.rb) sum.appendChild(el("span", "tag reboot", "rebooted"));
    if (h.ig) sum.appendChild(el("span", "tag", h.ig + (h.ig === 1 ? " failure" : " failures") + " ignored: continue_on_error"));
    if (h.sim && !D.allSim) sum.appendChild(el("span", "tag", "simulated"));
    if (h.r) sum.appendChild(el("span", "reason", str(h.r)));
    d.appendChild(sum);
    d.addEventListener("toggle", function () {
      if (d.open && d.childNodes.length === 1) d.appendChild(hostBody(h));
    });
    return d;
  }
  function errBox(e) {
    var box = el("div", "err");
    box.appendChild(el("span", "cls", str(e.c) + (e.k ? " (code " + e.k + ")" : "")));
    box.appendChild(document.createTextNode(" " + str(e.m)));
    if (e.h) box.appendChild(el("div", "hint", str(e.h)));
    return box;
  }
  function output(label, text, cut, capped) {
    var d = el("details", "out"), sum = el("summary", null, label + ", " + fmtBytes(byteLen(text) + (cut || 0)));
    if (cut) sum.appendChild(el("span", "sub", "the first " + fmtBytes(cut) + " are not shown here"));
    if (capped) sum.appendChild(el("span", "sub", "fleetrun's output cap was reached while capturing this step"));
    d.appendChild(sum);
    d.appendChild(el("pre", "out " + label.replace(/ /g, "-"), text));
    return d;
  }
  function hostBody(h) {
    var box = el("div", "hbody");
    if (h.er) box.appendChild(errBox(h.er));
    var t = el("table", "steps"), head = t.createTHead().insertRow();
    ["Step", "Kind", "Status", "Exit code", "Attempts", "Started", "Took"].forEach(function (c) { head.appendChild(el("th", null, c)); });
    var body = t.createTBody();
    h.st.forEach(function (st) {
      var r = body.insertRow();
      r.insertCell().textContent = str(st.n);
      r.insertCell().textContent = str(st.k);
      r.insertCell().appendChild(el("span", "badge " + st.c, st.s + (st.o && str(st.o) !== "ok" ? ", " + str(st.o) : "")));
      r.insertCell().textContent = st.x !== undefined ? fmtExit(st.x) + (st.xe ? " (expected " + str(st.xe) + ")" : "") : "";
      r.insertCell().textContent = st.a ? String(st.a) : "";
      r.insertCell().textContent = clock(st.t);
      r.insertCell().textContent = st.d !== undefined ? fmtMS(st.d) : "";
      if (st.r || st.e || st.out || st.err || st.cl || st.fl) {
        var c = body.insertRow();
        c.className = "detail";
        var cell = c.insertCell();
        cell.colSpan = 7;
        if (st.r) cell.appendChild(el("div", "reason", str(st.r)));
        if (st.e) cell.appendChild(errBox(st.e));
        if (st.cl) cell.appendChild(output("command line", str(st.cl), 0, false));
        if (st.fl) cell.appendChild(output("files", str(st.fl), 0, false));
        if (st.out) cell.appendChild(output("stdout", str(st.out), st.oc, st.tr));
        if (st.err) cell.appendChild(output("stderr", str(st.err), st.ec, st.tr));
      }
    });
    box.appendChild(t);
    return box;
  }

  [q, fStatus, fBatch, fSort].forEach(function (c) { c.addEventListener(c === q ? "input" : "change", apply); });
  more.addEventListener("click", showMore);

  // Links to #host-N open that host, listing it first if filters hide it.
  function reveal(i) {
    if (!(i >= 0 && i < D.hosts.length)) return;
    var e = document.getElementById("host-" + i);
    if (!e) {
      q.value = ""; fStatus.value = ""; fBatch.value = ""; fSort.value = "inv";
      apply();
      while (!document.getElementById("host-" + i) && shown < matches.length) showMore();
      e = document.getElementById("host-" + i);
    }
    e.open = true;
    e.scrollIntoView({ block: "start" });
  }
  function onHash() {
    var m = /^#host-(\d+)$/.exec(location.hash);
    if (m) reveal(Number(m[1]));
  }
  window.addEventListener("hashchange", onHash);

  // ---- sortable tables: click a header to sort by that column
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th) {
      th.addEventListener("click", function () {
        var col = th.cellIndex, numeric = th.dataset.sort === "num";
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(heads, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        function key(r) {
          var c = r.cells[col], v = c.dataset.v !== undefined ? c.dataset.v : c.textContent;
          return numeric ? Number(v) : v.toLowerCase();
        }
        rows.sort(function (a, b) { var x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * dir; });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  apply();
  onHash();
})();
