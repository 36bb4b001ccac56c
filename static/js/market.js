/* Market watch: poll the rows every 2 s and update the cells in place. */
(function () {
  "use strict";
  var table = document.getElementById("market-table");
  if (!table) return;
  var url = table.dataset.url;
  var status = document.getElementById("market-status");
  var statusText = status.querySelector(".text");
  var asOf = document.getElementById("market-as-of");
  var FIELDS = ["reference_price", "band", "band_pct", "bid_size", "bid", "ask", "ask_size"];
  var PERIOD = 2000;
  var timer = null;

  // A click anywhere on a row opens its ticket; the code cell is the real link.
  table.addEventListener("click", function (event) {
    if (event.target.closest("a")) return;
    var row = event.target.closest("tr[data-href]");
    if (row) window.location.href = row.dataset.href;
  });

  function show(state) {
    status.dataset.state = state;
    statusText.textContent = status.dataset[state];
  }

  function setText(cell, value) {
    var text = value === null || value === undefined || value === "" ? "\u2014" : String(value);
    if (cell.textContent === text) return;
    cell.textContent = text;
    cell.classList.remove("flash");
    void cell.offsetWidth; // restart the animation
    cell.classList.add("flash");
  }

  function render(data) {
    var rows = table.tBodies[0].rows;
    if (rows.length !== data.rows.length) {
      window.location.reload(); // a security was listed or delisted
      return;
    }
    data.rows.forEach(function (item) {
      var tr = table.querySelector('tr[data-code="' + CSS.escape(item.code) + '"]');
      if (!tr) {
        window.location.reload();
        return;
      }
      FIELDS.forEach(function (field) {
        var cell = tr.querySelector('[data-field="' + field + '"]');
        if (cell) setText(cell, item[field]);
      });
      var badge = tr.querySelector('[data-field="status_label"]');
      if (badge) {
        setText(badge, item.status_label);
        badge.classList.remove("status-listed", "status-halted", "status-delisted");
        badge.classList.add("status-" + item.status);
      }
    });
    asOf.textContent = new Date(data.as_of).toLocaleTimeString("en-GB", { timeZone: "Asia/Shanghai", hour12: false });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, PERIOD);
  }

  function poll() {
    if (document.hidden) return; // resumed by visibilitychange
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || response.status === 401 || response.status === 403 || type.indexOf("json") < 0) {
          show("expired");
          return null; // logged out: stop polling
        }
        if (!response.ok) throw new Error(String(response.status));
        return response.json().then(function (data) {
          render(data);
          show("live");
          schedule();
        });
      })
      .catch(function () {
        show("stale");
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) poll();
  });
  schedule();
})();
