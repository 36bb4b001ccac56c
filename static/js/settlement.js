/* Settlement monitor: every 3 s, refresh the summary counters, the pending and held lists and the net windows
 * that cannot settle (rendered by the server from the page's own templates). A list is left alone while the user
 * is filling in one of its forms. */
(function () {
  "use strict";
  var table = document.getElementById("settlement-summary");
  var status = document.getElementById("settlement-status");
  if (!table || !status) return;
  var PERIOD = 3000;
  var lists = document.querySelectorAll("[data-list]");

  function busy(container) {
    if (container.contains(document.activeElement) && document.activeElement !== document.body) return true;
    return Array.prototype.some.call(container.querySelectorAll("input"), function (input) {
      return input.type !== "hidden" && input.value !== "";
    });
  }

  function render(data) {
    table.querySelectorAll("[data-k]").forEach(function (cell) {
      var v = data[cell.dataset.k];
      var text = v === null || v === undefined ? "\u2013" : String(v);
      if (cell.textContent !== text) {
        cell.textContent = text;
        window.exchangeFlash(cell);
      }
    });
    lists.forEach(function (container) {
      var kind = container.dataset.list;
      var key = data[kind + "_key"];
      // The first refresh redraws the list; later ones only when its rows (or their blocks) changed.
      if (container.dataset.key === key || busy(container)) return;
      container.innerHTML = data[kind + "_html"]; // the server's rendering of settlement/_trades.html
      container.dataset.key = key;
    });
  }

  window.exchangePoll({ url: table.dataset.url, period: PERIOD, status: status, render: render });
})();
