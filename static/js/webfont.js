// The Chinese web font ("Exchange SC", core.fonts) is downloaded only by a browser with no Chinese font of its
// own. Chromium does not lay out again the first text that made it load: that text stays in boxes. Once the font
// is in, a class on <html> changes the letter spacing by a thousandth of a pixel, and every text is laid out again.
(function () {
  "use strict";
  if (!document.fonts) return;
  function ready() {
    document.documentElement.classList.add("webfont-ready");
  }
  function loaded() {
    var found = false;
    document.fonts.forEach(function (face) {
      if (face.family.replace(/"/g, "") === "Exchange SC" && face.status === "loaded") found = true;
    });
    return found;
  }
  if (loaded()) ready();
  else {
    document.fonts.addEventListener("loadingdone", function () { if (loaded()) ready(); });
    // Text laid out before the font's rule was in never asks for it: on an English page the language switch's
    // 简体中文, its only Chinese, stayed four boxes (found by a walk-through). Laid out once more now, every text
    // the browser has no font for asks for it; a browser with a Chinese font of its own still never does.
    document.documentElement.classList.add("webfont-asked");
  }
})();
