/* Requests for quote, refreshing by themselves (exchange.rfq_views):
 *
 * - the investor's RFQ page (#rfq-list): each request card is replaced by its freshly rendered HTML, so
 *   answers appear side by side as they arrive and expired ones lose their Accept button;
 * - the market maker's inbox on the quotes page (#rfq-inbox): new open requests are added, closed ones
 *   removed, and the "my answer" cell updated, without touching a row being typed in.
 */
(function () {
  "use strict";
  var PERIOD = 2000;

  function fragment(html, tag) {
    var holder = document.createElement(tag);
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  var list = document.getElementById("rfq-list");
  if (list) {
    window.exchangePoll({
      url: list.dataset.url,
      period: PERIOD,
      status: document.getElementById("rfq-status"),
      render: function (data) {
        var seen = {};
        data.requests.forEach(function (request, i) {
          seen[request.id] = true;
          var card = list.querySelector('[data-rfq="' + request.id + '"]');
          if (!card) {
            card = document.createElement("section");
            card.className = "card rfq";
            card.dataset.rfq = request.id;
            list.insertBefore(card, list.children[i] || null);
            var none = document.getElementById("rfq-none");
            if (none) none.remove();
          }
          if (card.dataset.html !== request.html) {
            card.innerHTML = request.html;
            card.dataset.html = request.html;
          }
        });
      },
    });
  }

  var inbox = document.getElementById("rfq-inbox");
  if (inbox) {
    var body = inbox.querySelector("tbody");
    var render = function (data) {
      var seen = {};
      data.requests.forEach(function (request) {
        seen[request.id] = true;
        var row = body.querySelector('tr[data-rfq="' + request.id + '"]');
        if (!row) {
          body.appendChild(fragment(request.html, "tbody"));
        } else {
          row.querySelector('[data-field="mine"]').innerHTML = request.mine_html;
        }
      });
      Array.prototype.forEach.call(body.querySelectorAll("tr[data-rfq]"), function (row) {
        var typing = row.contains(document.activeElement);
        if (!seen[row.dataset.rfq] && !typing) row.remove();
      });
      var empty = body.querySelector(".rfq-inbox-empty");
      if (empty) empty.hidden = data.requests.length > 0;
    };
    fetch(inbox.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) render(data); })
      .catch(function () {});
    window.exchangePoll({
      url: inbox.dataset.url,
      period: PERIOD,
      status: document.getElementById("rfq-inbox-status"),
      render: render,
    });
  }
})();
