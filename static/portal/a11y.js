// Keyboard and screen-reader help shared by every page.
(function () {
  "use strict";
  // A table wider than the screen scrolls sideways inside its box: the box takes the keyboard focus,
  // so the arrow keys can scroll it too.
  document.querySelectorAll(".table-responsive").forEach(function (box) {
    if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
  });

  // A refused form: its error summary (templates/_error_summary.html) takes focus, so it is read out at once,
  // and each of its links puts the cursor in the field it names.
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    field.focus();
    field.scrollIntoView({ block: "center" });
  });
})();
