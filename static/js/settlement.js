/* Settlement monitor: refresh the summary counters every 3 s from the table's data-url. */
(function () {
  "use strict";
  var table = document.getElementById("settlement-summary");
  if (!table) return;
  function refresh() {
    if (document.hidden) return;
    // A background refresh, not the user's activity (core.middleware.staff_session_idle_timeout).
    fetch(table.dataset.url, { credentials: "same-origin", headers: { "X-Exchange-Poll": "1" } })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        if (!data) return;
        table.querySelectorAll("[data-k]").forEach(function (cell) {
          var v = data[cell.dataset.k];
          cell.textContent = v === null || v === undefined ? "\u2013" : v;
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 3000);
})();
