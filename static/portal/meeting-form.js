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
  // Who is expected depends on the type, the day and the group (a 支委会: the committee; a 党小组会:
  // the group): when one changes, the server's list for the new choice replaces the one shown,
  // keeping the ticks and reasons already given. Without the script, a submit brings the right list.
  var ticks = {};
  var asked = 0;
  function rememberTicks() {
    form.querySelectorAll("#attendance input, #attendance select").forEach(function (el) {
      ticks[el.name] = el.type === "checkbox" ? el.checked : el.value;
    });
  }
  function refreshAttendance() {
    var params = new URLSearchParams();
    ["meeting_type", "held_at", "party_group"].forEach(function (name) {
      var el = form.elements[name];
      params.set(name, el ? el.value : "");
    });
    rememberTicks();
    var mine = ++asked;
    fetch(window.location.pathname + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("attendance");
        var shown = document.getElementById("attendance");
        if (mine !== asked || !fresh || !shown) return;
        rememberTicks();  // what was ticked while the list was on its way counts too
        fresh = document.importNode(fresh, true);
        shown.replaceWith(fresh);
        fresh.querySelectorAll("input, select").forEach(function (el) {
          if (!(el.name in ticks)) return;
          if (el.type === "checkbox") el.checked = !!ticks[el.name]; else el.value = ticks[el.name];
        });
        syncReasons();
        save();
      })
      .catch(function () { /* offline: the server checks the list on submit and shows the right one */ });
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
      var draft = JSON.parse(stored).data;
      restore(draft);
      ticks = draft;
      document.getElementById("draft-restored").classList.remove("d-none");
      refreshAttendance();
    } catch (e) { localStorage.removeItem(key); }
  }
  var discard = document.getElementById("draft-discard");
  if (discard) discard.addEventListener("click", function () {
    localStorage.removeItem(key);
    window.location.reload();
  });

  form.addEventListener("input", save);
  form.addEventListener("change", function (event) {
    save();
    syncReasons();
    syncGroup();
    if (["meeting_type", "held_at", "party_group"].indexOf(event.target.name) >= 0) refreshAttendance();
  });
  form.addEventListener("submit", function () {
    // Enabled again so that the browser sends every field.
    form.querySelectorAll(".attendance-reason").forEach(function (s) { s.disabled = false; });
    save();
  });
  syncReasons();
  syncGroup();
})();
