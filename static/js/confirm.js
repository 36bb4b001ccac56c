/* Irreversible actions ask first: a form (or the button that sends it) with data-confirm submits only when the
   user agrees.
   The question may name what the form is about to send: {field} is replaced by that field's value as the
   user sees it (a select's chosen option, a checked radio's label, an input's text); an amount
   (data-amount-field) and the share counts the form names (data-confirm-shares="bid_quantity ask_quantity") as
   every page shows them, grouped by thousands. */
(function () {
  "use strict";
  // Whole digits typed, "0010000" or "10,000", as the pages write them: "10,000". From the digits, not through a
  // number: 17 digits would be rounded.
  function grouped(digits) {
    return digits.replace(/,/g, "").replace(/^0+(?=[0-9])/, "").replace(/\B(?=([0-9]{3})+$)/g, ",");
  }
  function shown(form, name) {
    var field = form.elements[name];
    if (!field) return "";
    if (field.tagName === "SELECT") return field.selectedOptions.length ? field.selectedOptions[0].text.trim() : "";
    if (field.length !== undefined && field.tagName === undefined) { // radio buttons of one name
      for (var i = 0; i < field.length; i++) {
        if (field[i].checked) return (field[i].closest("label") || field[i]).textContent.trim() || field[i].value;
      }
      return "";
    }
    return (field.value || "").trim();
  }
  // The button last pressed, for browsers without SubmitEvent.submitter (Safari before 15.4).
  var pressed = null;
  document.addEventListener("click", function (event) {
    pressed = event.target.closest ? event.target.closest("button[type=submit], input[type=submit]") : null;
  }, true);
  document.addEventListener("submit", function (event) {
    // The button that sent the form may ask its own question (a form with Hold and Refuse asks only for Refuse).
    var form = event.target.closest("form");
    var button = event.submitter || (pressed && pressed.form === form ? pressed : null);
    var asker = button && button.dataset.confirm ? button : form && form.dataset.confirm ? form : null;
    if (!asker) return;
    var text = asker.dataset.confirm;
    // Two fields the form names (data-confirm-below="bid_price ask_price"), the first of which must be below the
    // second, are not asked about when it is not: the server refuses such a form whatever the answer, and says
    // why (found by a walk-through: a crossed quote was asked to be confirmed, then refused).
    if (asker.dataset.confirmBelow) {
      var pair = asker.dataset.confirmBelow.split(" ").map(function (name) {
        return shown(form, name).replace(/,/g, "");
      });
      if (pair[0] && pair[1] && Number(pair[0]) >= Number(pair[1])) return;
    }
    // Prices the form names (data-confirm-within="security bid_price ask_price") outside the band the chosen
    // option carries (data-band-low, data-band-high) are not asked about either: the server refuses them, naming
    // the side and the band (found by a walk-through: such a quote was asked to be confirmed, then refused).
    if (asker.dataset.confirmWithin) {
      var names = asker.dataset.confirmWithin.split(" ");
      var select = form.elements[names[0]];
      var option = select && select.selectedOptions && select.selectedOptions[0];
      if (option && option.dataset.bandLow && option.dataset.bandHigh) {
        var low = Number(option.dataset.bandLow), high = Number(option.dataset.bandHigh);
        for (var i = 1; i < names.length; i++) {
          var price = shown(form, names[i]).replace(/,/g, "");
          if (price && !isNaN(Number(price)) && (Number(price) < low || Number(price) > high)) return;
        }
      }
    }
    // An amount the form names (data-amount-field) changes the question: none is asked for an amount that is not
    // a positive number (the server says what is wrong with it), and one above data-amount-above asks
    // data-confirm-large instead (a deposit above the broker's threshold is a request, not a credit).
    var amount = null;
    if (asker.dataset.amountField) {
      var typedAmount = shown(form, asker.dataset.amountField);
      amount = Number(typedAmount.replace(/,/g, ""));
      if (!(amount > 0)) return;
      // Nor for "1e3" or "0.001", which a number field takes and the server refuses (found by a walk-through:
      // "Deposit 1e3 CNY?" was asked, then refused).
      if (!/^[0-9,]*(\.[0-9]{0,2})?$/.test(typedAmount)) return;
      if (asker.dataset.confirmLarge && amount > Number(asker.dataset.amountAbove)) text = asker.dataset.confirmLarge;
    }
    // A required field the question names, left empty (a select still on its blank choice), is not asked about:
    // the server refuses the form and says what is missing (found by a walk-through: an empty issuance asked
    // "Propose this issuance of ---------?").
    // A field the question names that the browser already knows is out of its bounds (its min, max and step:
    // 0 or 100.5 shares, an amount above the limit per movement) is not asked about either: the form is
    // novalidate, the server refuses it and says why (found by a walk-through: "Place this order: buy 0 shares?"
    // and "deposit 500,000,000.00 CNY?" were asked, then refused).
    var placeholders = text.match(/\{([\w-]+)\}/g) || [];
    for (var n = 0; n < placeholders.length; n++) {
      var named = form.elements[placeholders[n].slice(1, -1)];
      if (named && named.validity && named.value !== "" && !named.validity.valid) return;
    }
    var blank = false;
    var shares = (asker.dataset.confirmShares || "").split(" ");
    var question = text.replace(/\{([\w-]+)\}/g, function (_, name) {
      var field = form.elements[name];
      var value = field && field.tagName === "SELECT" ? field.value : shown(form, name);
      if (field && field.required && !value) blank = true;
      // The amount as every amount of the pages reads, "2,000,000.00", not as typed (found by a walk-through).
      // Written from the digits typed, not through a float: 17 digits (the form takes 15 before the point) were
      // rounded, 900000000000000.01 asked as 900,000,000,000,000.00 (found by a review).
      var typed = /^([0-9,]+)(?:\.([0-9]{1,2}))?$/.exec(shown(form, name));
      if (name === asker.dataset.amountField && amount > 0 && typed) {
        return grouped(typed[1]) + "." + ((typed[2] || "") + "00").slice(0, 2);
      }
      // A share count as the cash dialogs' amounts read, "10,000", not as typed "10000" (found by a walk-through).
      if (shares.indexOf(name) >= 0 && typed && !typed[2]) return grouped(typed[1]);
      return shown(form, name);
    });
    if (blank) return;
    if (!window.confirm(question)) event.preventDefault();
  });
})();
