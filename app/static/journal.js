/* Live journal: ask cheaply whether anything changed, then fetch only the new entries.
   The marker poll answers 204 while nothing changes; after a lost connection the page
   catches up from the last entry it shows, and never shows an entry twice. */
(function () {
  "use strict";
  var list = document.getElementById("journal-entries");
  if (!list || !list.dataset.live) return;
  var statusEl = document.getElementById("live-status");
  var interval = parseInt(list.dataset.interval, 10) || 1000;
  var marker = list.dataset.marker;
  var after = parseInt(list.dataset.after, 10) || 0;
  var failing = false, timer = null, busy = false;
  var markerBase = list.dataset.markerUrl;
  // The marker poll carries the page's filters, so a shared fragment for them can come with the marker.
  var filterParams = {};
  new URL(list.dataset.updatesUrl, window.location.href).searchParams.forEach(function (v, k) { filterParams[k] = v; });

  function setLost(lost) {
    if (!statusEl) return;
    statusEl.textContent = lost ? statusEl.dataset.lost : statusEl.dataset.ok;
    statusEl.classList.toggle("lost", lost);
  }

  function urlWith(base, params) {
    var url = new URL(base, window.location.href);
    Object.keys(params).forEach(function (k) { url.searchParams.set(k, params[k]); });
    return url.toString();
  }

  function insert(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    // More arrived than one catch-up carries: reloading shows them all, newest first, with "Older".
    if (tpl.content.getElementById("journal-reload")) { window.location.reload(); return; }
    var fresh = [];
    Array.prototype.forEach.call(tpl.content.querySelectorAll("article.entry"), function (a) {
      var shown = document.getElementById(a.id);
      if (!shown) { fresh.push(a); return; }
      // An entry already on screen whose case changed (status, assignee, deadline) is redrawn in place.
      if (shown.dataset.version !== a.dataset.version) {
        shown.replaceWith(a);
        if (window.htmx) window.htmx.process(a);
      }
    });
    // The fragment is newest first: prepend from the oldest so the newest ends on top.
    fresh.reverse().forEach(function (a) {
      a.classList.add("fresh");
      list.insertBefore(a, list.firstChild);
      after = Math.max(after, parseInt(a.dataset.id, 10) || 0);
      if (window.htmx) window.htmx.process(a);
    });
    if (fresh.length) {
      var empty = document.getElementById("journal-empty");
      if (empty) empty.remove();
    }
  }

  function catchUp() {
    return fetch(urlWith(list.dataset.updatesUrl, {after: after}), {
      credentials: "same-origin", cache: "no-store", headers: {"HX-Request": "true"}
    }).then(function (r) {
      var ticket = r.headers.get("X-Live-Ticket");
      if (ticket) markerBase = markerBase.replace(/[^/]+$/, ticket);
      if (r.status === 204) return;
      if (!r.ok || r.redirected) throw new Error("updates " + r.status);
      return r.text().then(insert);
    });
  }

  function tick() {
    if (busy) return schedule();
    busy = true;
    var params = Object.assign({}, filterParams, {m: marker, after: after});
    fetch(urlWith(markerBase, params), {cache: "no-store", credentials: "omit"})
      .then(function (r) {
        if (r.status === 204 && !failing) return;
        // An expired ticket: the authenticated catch-up hands out a fresh one.
        if (r.status === 404) return catchUp().then(recovered);
        if (r.status !== 204 && r.status !== 200) throw new Error("marker " + r.status);
        var next = r.status === 200 ? r.json() : Promise.resolve(null);
        return next.then(function (data) {
          // Adopt the marker read *before* the entries: a change in between is fetched again, never lost.
          var fetched = data && typeof data.html === "string" && !failing
            ? Promise.resolve(insert(data.html)) : catchUp();
          return fetched.then(function () {
            if (data && data.m !== null && data.m !== undefined) marker = String(data.m);
            recovered();
          });
        });
      })
      .catch(function () { failing = true; setLost(true); })
      .then(function () { busy = false; schedule(); });
  }

  function recovered() {
    if (failing) { failing = false; setLost(false); }
  }

  function schedule() {
    clearTimeout(timer);
    // A hidden tab asks rarely; it catches up the moment it is shown again.
    timer = setTimeout(tick, document.hidden ? interval * 10 : interval);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) { clearTimeout(timer); tick(); } });
  window.addEventListener("online", function () { clearTimeout(timer); tick(); });
  schedule();
})();
