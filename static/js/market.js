/* Market watch: poll the rows every 2 s and update the cells in place. */
(function () {
  "use strict";
  var table = document.getElementById("market-table");
  if (!table) return;
  var url = table.dataset.url;
  var status = document.getElementById("market-status");
  var asOf = document.getElementById("market-as-of");
  var FIELDS = ["reference_price", "band", "band_pct", "bid_size", "bid", "ask", "ask_size"];
  var PERIOD = 2000;

  // A click anywhere on a row opens its ticket; the code cell is the real link.
  table.addEventListener("click", function (event) {
    if (event.target.closest("a")) return;
    var row = event.target.closest("tr[data-href]");
    if (row) window.location.href = row.dataset.href;
  });

  // A reload (the market opened or closed, a security was listed) keeps the keyboard's place: the row's link.
  function reload() {
    var row = document.activeElement && document.activeElement.closest && document.activeElement.closest("tr[data-code]");
    if (row) sessionStorage.setItem("market-focus", row.dataset.code);
    window.location.reload();
  }
  var kept = sessionStorage.getItem("market-focus");
  if (kept) {
    sessionStorage.removeItem("market-focus");
    var link = table.querySelector('tr[data-code="' + CSS.escape(kept) + '"] a');
    if (link) link.focus();
  }

  function setText(cell, value) {
    var text = value === null || value === undefined || value === "" ? "\u2014" : String(value);
    if (cell.textContent === text) return;
    cell.textContent = text;
    window.exchangeFlash(cell);
  }

  function render(data) {
    // The market opened or closed: the page's notice changes with it.
    if (data.market && String(data.market.open) !== table.dataset.open) {
      reload();
      return;
    }
    var rows = table.tBodies[0].rows;
    if (rows.length !== data.rows.length) {
      reload(); // a security was listed or delisted
      return;
    }
    data.rows.forEach(function (item) {
      var tr = table.querySelector('tr[data-code="' + CSS.escape(item.code) + '"]');
      if (!tr) {
        reload();
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

  window.exchangePoll({ url: url, period: PERIOD, status: status, render: render, event: "market", eventData: true });
})();
