// The event-type page's live SMS counter: while an SMS template is typed, the server renders
// it on the same VOPI event as the preview and this updates each language's "SMS: n parts"
// lines (the marked text follows on "Predogled", which without JavaScript does it all).
"use strict";
(function () {
  var form = document.getElementById("event-type-form");
  if (!form || !form.dataset.live || !window.fetch || !window.FormData) {
    return;
  }
  var timer = null;
  var asked = 0;
  function refresh() {
    var mine = ++asked;
    fetch(form.dataset.live, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (reply) { return reply.ok ? reply.json() : null; })
      .then(function (lines) {
        if (!lines || mine !== asked) {
          return; // a later answer is on its way
        }
        Object.keys(lines).forEach(function (lang) {
          var cost = document.getElementById("parts-" + lang);
          var rendered = document.getElementById("rendered-" + lang);
          if (cost && cost.firstElementChild) {
            cost.firstElementChild.textContent = lines[lang].cost;
          }
          if (rendered) {
            rendered.textContent = lines[lang].rendered;
          }
        });
      })
      .catch(function () { /* the Preview button still works */ });
  }
  form.addEventListener("input", function (event) {
    if (!/\.sms$/.test(event.target.name || "")) {
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  });
})();
