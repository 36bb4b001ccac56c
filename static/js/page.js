/* Every page, once loaded: after a refused form, the title says so and the keyboard is put on the first field in
 * error (a screen reader heard nothing of the refusal, the focus back at the top of a page that looked the same;
 * WCAG 3.3.1); a step that stands in for the one before it (the order's review) takes the focus to its heading
 * (data-focus), where the keyboard would otherwise start over at the top. */
/* A page that opens with the outcome of what the user just did (an order placed or cancelled, a quote pulled, an
 * answer accepted: the messages a redirect after a form brings) puts the keyboard on that message: a screen reader
 * reads it, where a live region already there as the page loads is read by none, and the next Tab goes on into the
 * page's content, not through the navigation again (found by a keyboard walk: after "Cancel" the focus was at the
 * top of the page and the "order cancelled" line was never heard; WCAG 2.4.3, 4.1.3). */
/* A form that sends the user back to the page it is on (a notification marked read) names, in data-focus-after,
 * what the keyboard returns to on the page that comes back: the same row, not the top of the page, from where
 * the keyboard passed the navigation and every row above again (found by a keyboard walk; WCAG 2.4.3). It is
 * kept for the next page of the same path only. */
(function () {
  "use strict";
  var FOCUS_AFTER = "exchange-focus-after";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.dataset || !form.dataset.focusAfter) return;
    try {
      sessionStorage.setItem(FOCUS_AFTER, JSON.stringify({path: location.pathname, selector: form.dataset.focusAfter}));
    } catch (e) { /* storage refused: the page comes back with the focus at its top */ }
  });
  function focusAfter() {
    var kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(FOCUS_AFTER) || "null");
      sessionStorage.removeItem(FOCUS_AFTER); // read once, whatever takes the focus
    } catch (e) { return null; }
    if (!kept || kept.path !== location.pathname) return null;
    try { return document.querySelector(kept.selector); } catch (e) { return null; }
  }
  var returned = focusAfter();

  var invalid = document.querySelector('[aria-invalid="true"]');
  var refused = invalid || document.querySelector(".form-errors, .field-errors");
  if (refused && document.body.dataset.errorTitle) {
    document.title = document.body.dataset.errorTitle.replace("{title}", document.title);
  }
  var target = invalid || (refused && refused.closest("section, form")) || document.querySelector("[data-focus]") ||
    returned || document.getElementById("messages");
  if (!target || (document.activeElement && document.activeElement !== document.body)) return;
  if (!target.matches("a[href], button, input, select, textarea, [tabindex]")) target.setAttribute("tabindex", "-1");
  target.focus();
})();

/* A required field left empty is named in the page's language, not in the browser's (a Chinese page said "Please
 * fill out this field." in a browser set to English; found by a walk-through): the browser still stops the form
 * and points at the field, with the page's own sentence (data-required-message on the body). Other checks keep
 * the browser's words; the server says the rest. */
(function () {
  "use strict";
  var message = document.body.dataset.requiredMessage;
  if (!message) return;
  // A file or a choice is not "filled in": each has its own sentence, as the browser's have (found by a review: a
  // file picker left empty said "Fill in this field.").
  var file = document.body.dataset.requiredFile || message;
  var choice = document.body.dataset.requiredChoice || message;
  var ours = [message, file, choice];
  document.addEventListener("invalid", function (event) {
    var field = event.target;
    if (!field.validity || !field.validity.valueMissing) return;
    var kind = field.tagName === "SELECT" || field.type === "radio" ? choice : field.type === "file" ? file : message;
    field.setCustomValidity(kind);
  }, true);
  // The sentence is cleared from every field of the form, not only the one typed in: a radio group's buttons each
  // carry it, and checking one left the others refusing the form for ever; a field filled by a script (no input
  // event) kept it too. It is cleared again as a button sends the form (Enter clicks it as well), before the
  // browser checks, which sets it again on a field still empty (found by a review).
  function clear(event) {
    var target = event.target;
    var fields = target.form ? target.form.elements : [target];
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.setCustomValidity && ours.indexOf(field.validationMessage) >= 0) field.setCustomValidity("");
    }
  }
  document.addEventListener("input", clear, true);
  document.addEventListener("change", clear, true);
  // Spaces only are no answer either: the server strips them and refuses the form, after confirm.js had asked its
  // question about it (found by a walk: "Halt 830002?" was asked for a reason of three spaces, then refused). The
  // browser stops such a field as it stops an empty one, with the same sentence, which typing clears.
  function spacesOnly(button) {
    var form = button.form;
    if (form.noValidate || button.formNoValidate) return;
    for (var i = 0; i < form.elements.length; i++) {
      var field = form.elements[i];
      var text = field.tagName === "TEXTAREA" || (field.tagName === "INPUT" && /^(text|search)$/.test(field.type));
      if (text && field.required && field.value !== "" && !field.value.trim()) field.setCustomValidity(message);
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button, input[type=submit], input[type=image]");
    if (button && button.type !== "button" && button.type !== "reset" && button.form) {
      clear({target: button});
      spacesOnly(button);
    }
  }, true);
})();

/* A form that writes (method post), sent twice before its answer comes (a double click, Enter pressed twice, an
 * impatient second click on a slow answer), would propose, deposit or approve twice: the second send does nothing
 * while the first is on its way (found by a review: two identical freeze proposals from one double click). A form
 * that only downloads a file stays on its page: it may be sent again a few seconds later, and at once after the
 * browser's Back. The check runs before confirm.js asks its question (a second click is not asked again); the
 * form counts as sent only once no script stopped it (confirm.js's "no", the order ticket's own sending). */
(function () {
  "use strict";
  var AGAIN_AFTER_MS = 4000;
  function writes(form) {
    return form && form.tagName === "FORM" && (form.getAttribute("method") || "").toLowerCase() === "post";
  }
  document.addEventListener("submit", function (event) {
    if (writes(event.target) && event.target.dataset.sending) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!writes(form) || event.defaultPrevented) return;
    form.dataset.sending = "1";
    setTimeout(function () { delete form.dataset.sending; }, AGAIN_AFTER_MS);
  });
  window.addEventListener("pageshow", function () {
    var sent = document.querySelectorAll("form[data-sending]");
    for (var i = 0; i < sent.length; i++) delete sent[i].dataset.sending;
  });
})();
