/* Tables with class "cards" show each row as a card on phones (exchange.css); here each cell that has no
   data-label of its own gets its column's heading as one, for rows on the page and rows a poll adds later. */
(function () {
  "use strict";
  function label(table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var column = 0;
      Array.prototype.forEach.call(tr.children, function (cell) {
        // A cell across several columns is a message ("No freezes."), not a value of one column.
        if (!cell.hasAttribute("data-label") && heads[column] && (cell.colSpan || 1) === 1) {
          cell.setAttribute("data-label", heads[column]);
        }
        column += cell.colSpan || 1;
      });
    });
  }
  function labelAll() {
    document.querySelectorAll("table.cards").forEach(label);
  }
  document.addEventListener("DOMContentLoaded", function () {
    labelAll();
    new MutationObserver(labelAll).observe(document.body, { childList: true, subtree: true });
  });
})();
