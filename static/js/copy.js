/* A copy button: <button data-copy="ID" data-copied="Copied"> copies the value (or text) of the element ID to the
   clipboard and says so on the button for a moment. Without the Clipboard API (a page not served over HTTPS)
   it selects the text, for the user to copy by hand. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    function done() {
      button.textContent = button.dataset.copied || label;
      window.setTimeout(function () { button.textContent = label; }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { if (source.select) source.select(); });
    } else if (source.select) {
      source.select();
    }
  });
})();
