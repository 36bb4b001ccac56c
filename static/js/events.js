/* One server-sent event stream per page (GET /events/, core.events), shared by the pollers that ask for it.
 * exchangeEvents.on(name, fn) calls fn(data) for each event "name"; isOpen() says whether the stream is up.
 */
window.exchangeEvents = window.exchangeEvents || (function () {
  "use strict";
  var source = null;
  var open = false;
  var handlers = {};
  function start() {
    if (source || !window.EventSource) return;
    source = new EventSource("/events/");
    source.addEventListener("hello", function () { open = true; fire("_open", null); });
    source.addEventListener("error", function () {
      open = false;
      fire("_closed", null);
    });
  }
  function fire(name, data) { (handlers[name] || []).forEach(function (fn) { fn(data); }); }
  return {
    on: function (name, fn) {
      start();
      if (!handlers[name]) {
        handlers[name] = [];
        if (name.charAt(0) !== "_" && source) {
          source.addEventListener(name, function (e) { fire(name, JSON.parse(e.data)); });
        }
      }
      handlers[name].push(fn);
    },
    isOpen: function () { return open; },
  };
})();

