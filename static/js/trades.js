/* Trades: poll the status and ledger cells of the rows shown every 3 s, so a trade goes matched → sealed in place. */
(function () {
  "use strict";
  var table = document.getElementById("trades-table");
  if (!table) return;
  var status = document.getElementById("trades-status");
  var statusText = status.querySelector(".text");
  var newLink = document.getElementById("trades-new");
  var newest = parseInt(table.dataset.newest, 10) || 0;
  var PERIOD = 3000;
  var timer = null;
  var ids = Array.prototype.map.call(table.querySelectorAll("tbody tr[data-trade]"), function (tr) {
    return tr.dataset.trade;
  });
  var url = table.dataset.url + "?ids=" + ids.join(",");

  function show(state) {
    status.dataset.state = state;
    statusText.textContent = status.dataset[state];
  }

  function flash(cell) {
    cell.classList.remove("flash");
    void cell.offsetWidth; // restart the animation
    cell.classList.add("flash");
  }

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
