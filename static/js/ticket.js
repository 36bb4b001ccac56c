/* Order ticket: switch security, take a price from the quote book, show the order value; keep the quotes and
 * what is available up to date (polled every 2 s); and, as the order is typed, ask the server what would
 * refuse it (GET orders/new/check/: the pre-trade rules run without placing anything). */
(function () {
  "use strict";
  var book = document.getElementById("quote-book");
  var form = document.getElementById("order-form");
  var lastBook = null;

  if (book && book.dataset.url) {
    var cash = document.getElementById("available-cash");
    var shares = document.getElementById("available-shares");
    window.exchangePoll({
      url: book.dataset.url,
      period: 2000,
      event: "market", // a change of any book asks at once; the slow poll is the fallback
      status: document.getElementById("ticket-status"),
      render: function (data) {
        if (lastBook !== data.book_html) {
          window.exchangeKeepFocus(book.tBodies[0], function () {
            book.tBodies[0].innerHTML = data.book_html; // rendered by the server from the page's own template
          });
          if (lastBook !== null) window.exchangeFlash(book.tBodies[0]);
          lastBook = data.book_html;
        }
        [[cash, data.available.cash], [shares, data.available.shares]].forEach(function (pair) {
          if (pair[0] && pair[0].textContent !== pair[1]) {
            pair[0].textContent = pair[1];
            window.exchangeFlash(pair[0]);
          }
        });
        book.dataset.polls = String((parseInt(book.dataset.polls, 10) || 0) + 1);
      },
    });
  }

  if (!form) return;
  var security = form.elements.security;
  var quantity = form.elements.quantity;
  var price = form.elements.limit_price;
  var estimate = document.getElementById("order-estimate");
  var precheck = document.getElementById("precheck");
  var timer = null;
  var asked = 0;

  security.addEventListener("change", function () {
    window.location.search = "?security=" + encodeURIComponent(security.value);
  });

  if (book) {
    book.addEventListener("click", function (event) {
      var row = event.target.closest("tr[data-price]");
      if (!row) return;
      price.value = row.dataset.price;
      var side = form.querySelector('input[name="side"][value="' + row.dataset.side + '"]');
      if (side) side.checked = true;
      update();
      quantity.focus();
    });
  }

  function side() {
    var checked = form.querySelector('input[name="side"]:checked');
    return checked ? checked.value : "";
  }

  function showCheck(data) {
    precheck.textContent = "";
    var head = document.createElement("p");
    if (data.ok) {
      precheck.className = "precheck msg msg-success";
      head.textContent = precheck.dataset.passed + " " + precheck.dataset.fee + ": " + data.fee + " · " + data.total_label + ": " + data.total;
      precheck.appendChild(head);
    } else {
      precheck.className = "precheck msg msg-warning";
      head.textContent = precheck.dataset.refused;
      precheck.appendChild(head);
      var list = document.createElement("ul");
      data.problems.forEach(function (problem) {
        var item = document.createElement("li");
        item.textContent = problem.message;
        item.dataset.code = problem.code;
        list.appendChild(item);
      });
      precheck.appendChild(list);
    }
    precheck.hidden = false;
  }

  function check() {
    var q = parseInt(quantity.value, 10);
    var p = parseFloat(price.value);
    if (!(q > 0) || !(p > 0) || !side()) {
      precheck.hidden = true;
      return;
    }
    var query = new URLSearchParams({ security: security.value, side: side(), quantity: quantity.value, limit_price: price.value });
    var ticket = ++asked;
    fetch(precheck.dataset.url + "?" + query.toString(), { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        return response.status === 200 ? response.json() : null;
      })
      .then(function (data) {
        if (ticket !== asked) return; // an answer to an older question
        if (data) showCheck(data);
        else precheck.hidden = true; // not a whole order yet: the form says what is wrong when reviewed
      })
      .catch(function () { precheck.hidden = true; });
  }

  function update() {
    var q = parseInt(quantity.value, 10);
    var p = parseFloat(price.value);
    // Only a price in cents has a value to show: 12.555 is off every tick (the check below says so), and rounding
    // it first showed the value of another price.
    if (!(q > 0) || !(p > 0) || !/^\d+(\.\d{1,2})?$/.test(price.value.trim())) {
      estimate.textContent = "";
    } else {
      var value = (Math.round(p * 100) * q) / 100;
      estimate.textContent =
        estimate.dataset.label + ": " + value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  }
  quantity.addEventListener("input", update);
  price.addEventListener("input", update);
  form.addEventListener("change", function (event) {
    if (event.target.name === "side") update();
  });
  update();

  var sent = false;
  form.addEventListener("submit", function (event) {
    // A second click while the first is on its way does nothing. (Not by disabling the button: a disabled
    // submitter's step=review would not be sent.)
    if (sent) event.preventDefault();
    sent = true;
  });
  window.addEventListener("pageshow", function () {
    sent = false; // back to the page (from the review, say): it may be sent again
  });
})();
