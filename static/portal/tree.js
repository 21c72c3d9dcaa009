// Lazy expansion of the organization tree: each level is fetched once, when first opened.
(function () {
  "use strict";
  var tree = document.getElementById("org-tree");
  if (!tree) return;

  function load(url, into, replace) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        if (replace) {
          replace.insertAdjacentHTML("beforebegin", html);
          replace.remove();
        } else {
          into.innerHTML = html;
        }
      });
  }

  tree.addEventListener("click", function (event) {
    var toggle = event.target.closest(".tree-toggle");
    if (toggle) {
      var children = document.getElementById(toggle.getAttribute("aria-controls"));
      var open = toggle.getAttribute("aria-expanded") === "true";
      if (open) {
        children.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
        toggle.textContent = "+";
        return;
      }
      var show = function () {
        children.hidden = false;
        toggle.setAttribute("aria-expanded", "true");
        toggle.textContent = "−";
      };
      if (toggle.dataset.loaded) { show(); return; }
      // Busy, not disabled: a disabled button drops the keyboard focus to <body>.
      if (toggle.getAttribute("aria-busy") === "true") return;
      toggle.setAttribute("aria-busy", "true");
      toggle.textContent = "…";
      load(toggle.dataset.childrenUrl, children).then(function () {
        toggle.dataset.loaded = "1";
        show();
      }).catch(function () {
        toggle.textContent = "!";
        toggle.title = tree.dataset.errorText || "";
      }).finally(function () { toggle.removeAttribute("aria-busy"); });
      return;
    }
    var more = event.target.closest("[data-more-url]");
    if (more && more.getAttribute("aria-busy") !== "true") {
      more.setAttribute("aria-busy", "true");
      var item = more.closest("li");
      var list = item.parentNode;
      var before = item.previousElementSibling;
      load(more.dataset.moreUrl, null, item).then(function () {
        // The button is gone: the focus goes to the first of the organizations it brought.
        var first = before ? before.nextElementSibling : list.firstElementChild;
        var link = first && (first.querySelector(".tree-name") || first.querySelector("a, button"));
        if (link) link.focus();
      }).catch(function () { more.removeAttribute("aria-busy"); });
    }
  });
})();
