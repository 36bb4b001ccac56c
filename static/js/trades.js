/* Trades: poll the status and ledger cells of the rows shown every 3 s, so a trade goes matched → sealed in place. */
(function () {
  "use strict";
  var table = document.getElementById("trades-table");
  if (!table) return;
  var status = document.getElementById("trades-status");
  var newLink = document.getElementById("trades-new");
  var newest = parseInt(table.dataset.newest, 10) || 0;
  var PERIOD = 3000;
  var ids = Array.prototype.map.call(table.querySelectorAll("tbody tr[data-trade]"), function (tr) {
    return tr.dataset.trade;
  });
  var url = table.dataset.url + "?ids=" + ids.join(",");

  var flash = window.exchangeFlash;

  function render(data) {
    data.rows.forEach(function (item) {
      var tr = table.querySelector('tr[data-trade="' + item.id + '"]');
      if (!tr) return;
      var badge = tr.querySelector('[data-field="status"]');
      if (badge.textContent !== item.status_label) {
        badge.textContent = item.status_label;
        badge.className = "status status-" + item.status;
        flash(badge.parentNode);
      }
      var ledger = tr.querySelector('[data-field="ledger"]');
      var leaf = item.leaf_index === null ? "" : String(item.leaf_index);
      if (ledger.dataset.leaf !== leaf) {
        ledger.innerHTML = item.ledger_html; // rendered by the server from the same template as the page
        ledger.dataset.leaf = leaf;
        flash(ledger);
      }
    });
    if (data.newest_id && data.newest_id > newest) newLink.hidden = false;
  }

  // A "trade" event on the user's own stream (one of their trades matched, sealed or settled) asks at once.
  window.exchangePoll({ url: url, period: PERIOD, status: status, render: render, event: "trade" });
})();
