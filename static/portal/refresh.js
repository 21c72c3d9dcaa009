// A page waiting for a job (a round's first scoring: templates/assessments/_first_scoring.html) reloads itself
// every few seconds, so that the figures appear once the job is done; never once the user has begun typing in a
// form on the page, nor while the page is out of sight.
(function () {
  "use strict";
  var box = document.querySelector("[data-refresh-seconds]");
  if (!box) return;
  var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 15;
  var typed = false;
  document.addEventListener("input", function () {
    typed = true;
  });
  window.setInterval(function () {
    if (!typed && !document.hidden) window.location.reload();
  }, seconds * 1000);
})();
