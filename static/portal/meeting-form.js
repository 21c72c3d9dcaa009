// The meeting form keeps a draft in the browser, so a lost connection, an expired session
// or a closed tab never loses what the secretary typed. The draft goes once the meeting is saved.
(function () {
  "use strict";
  var PREFIX = "portal-draft:";

  var saved = document.getElementById("saved-flag");
  if (saved && saved.dataset.saved === "1") {
    saved.dataset.clearDrafts.split(" ").forEach(function (key) { localStorage.removeItem(PREFIX + key); });
  }
  var printButton = document.getElementById("print-record");
  if (printButton) printButton.addEventListener("click", function () { window.print(); });

  var form = document.getElementById("meeting-form");
  if (!form) return;
  var key = PREFIX + form.dataset.draftKey;

  function fields() {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrfmiddlewaretoken" && el.type !== "submit" && el.type !== "file";
    });
  }
  function snapshot() {
    var data = {};
    fields().forEach(function (el) { data[el.name] = el.type === "checkbox" ? el.checked : el.value; });
    return data;
  }
  function save() {
    try { localStorage.setItem(key, JSON.stringify({ at: Date.now(), data: snapshot() })); } catch (e) { /* full */ }
  }
  function restore(data) {
    fields().forEach(function (el) {
      if (!(el.name in data)) return;
      if (el.type === "checkbox") el.checked = !!data[el.name]; else el.value = data[el.name];
    });
  }
  function syncReasons() {
    form.querySelectorAll(".attendance-present").forEach(function (box) {
      var select = document.getElementById(box.id.replace("present_", "reason_"));
      if (!select) return;
      select.disabled = box.checked;
      select.classList.toggle("invisible", box.checked);
      if (box.checked) select.value = "";
    });
  }
  function syncGroup() {
    var type = form.elements.meeting_type;
    var group = form.querySelector(".group-field");
    if (type && group) group.hidden = type.value !== "group_meeting";
  }

  // A page re-rendered after a refused submit already holds what was typed: keep it.
  var stored = localStorage.getItem(key);
  if (stored && form.dataset.bound !== "1") {
    try {
      restore(JSON.parse(stored).data);
      document.getElementById("draft-restored").classList.remove("d-none");
    } catch (e) { localStorage.removeItem(key); }
  }
  var discard = document.getElementById("draft-discard");
  if (discard) discard.addEventListener("click", function () {
    localStorage.removeItem(key);
    window.location.reload();
  });

  form.addEventListener("input", save);
  form.addEventListener("change", function () { save(); syncReasons(); syncGroup(); });
  form.addEventListener("submit", function () {
    // Enabled again so that the browser sends every field.
    form.querySelectorAll(".attendance-reason").forEach(function (s) { s.disabled = false; });
    save();
  });
  syncReasons();
  syncGroup();
})();
