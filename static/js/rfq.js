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

  // Tell a screen reader something new once, in a visually hidden polite live region ({name} filled from values).
  // What one poll brings is said together: each write replaces what the region said before.
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }
  function say(region, lines) {
    if (lines.length) region.textContent = lines.join(" ");
  }

  var list = document.getElementById("rfq-list");
  var news = document.getElementById("rfq-news");
  if (list) {
    window.exchangePoll({
      url: list.dataset.url,
      period: PERIOD,
      status: document.getElementById("rfq-status"),
      render: function (data) {
        var seen = {};
        var told = [];
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
            var known = {};
            Array.prototype.forEach.call(card.querySelectorAll("tr[data-answer]"), function (row) {
              known[row.dataset.answer] = true;
            });
            var drawn = card.dataset.html !== undefined || card.childElementCount > 0;
            window.exchangeKeepFocus(card, function () {
              card.innerHTML = request.html;
            });
            card.dataset.html = request.html;
            // A new answer is said aloud once (the list itself is not a live region: it changes every poll).
            if (drawn && news) {
              Array.prototype.forEach.call(card.querySelectorAll("tr[data-answer]"), function (row) {
                if (known[row.dataset.answer]) return;
                told.push(fill(news.dataset.newAnswer, {
                  rfq: request.id, mm: row.cells[0].textContent.trim(), price: row.cells[1].firstChild.textContent.trim(),
                }));
              });
            }
          }
        });
        if (news) say(news, told);
      },
    });
  }

  var inbox = document.getElementById("rfq-inbox");
  if (inbox) {
    var body = inbox.querySelector("tbody");
    var inboxNews = document.getElementById("rfq-inbox-news");
    var drawn = false; // the rows drawn with the page, and those of the first poll, are not news
    var render = function (data) {
      var seen = {};
      var told = [];
      data.requests.forEach(function (request) {
        seen[request.id] = true;
        var row = body.querySelector('tr[data-rfq="' + request.id + '"]');
        if (!row) {
          row = fragment(request.html, "tbody");
          body.appendChild(row);
          if (inboxNews && drawn) {
            told.push(fill(inboxNews.dataset.newRequest, {
              id: request.id, security: row.cells[1].textContent.trim(), side: row.cells[2].textContent.trim(),
              quantity: row.cells[3].textContent.trim(),
            }));
          }
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
      if (inboxNews) say(inboxNews, told);
      drawn = true;
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
