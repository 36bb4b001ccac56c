/* Order ticket: switch security, take a price from the quote book, show the order value. */
(function () {
  "use strict";
  var form = document.getElementById("order-form");
  if (!form) return;
  var security = form.elements.security;
  var quantity = form.elements.quantity;
  var price = form.elements.limit_price;
  var estimate = document.getElementById("order-estimate");
  var book = document.getElementById("quote-book");

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

  function update() {
    var q = parseInt(quantity.value, 10);
    var p = parseFloat(price.value);
    if (!(q > 0) || !(p > 0)) {
      estimate.textContent = "";
      return;
    }
    var value = (Math.round(p * 100) * q) / 100;
    estimate.textContent =
      estimate.dataset.label + ": " + value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  quantity.addEventListener("input", update);
  price.addEventListener("input", update);
  update();

  form.addEventListener("submit", function () {
    // The hidden client_order_id already makes a second submit harmless; this just avoids the wait.
    document.getElementById("place-order").disabled = true;
  });
})();
