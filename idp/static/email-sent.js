// email-sent page script: while the member waits, asks every few seconds whether the
// verification link has been opened (in another tab, browser or device) and, once it has,
// says so and moves the focus to "Next". The page works the same without it.
(function () {
  "use strict";
  var box = document.getElementById("email-confirmed");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-status-url");
  var tries = 0;
  function check() {
    tries++;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && s.waiting === false) {
          box.textContent = box.getAttribute("data-text") || "";
          box.className = "notice";
          var next = document.querySelector('button[name="continue"]');
          if (next) next.focus();
          return;
        }
        if (tries < 900) setTimeout(check, 4000);
      })
      .catch(function () { if (tries < 900) setTimeout(check, 8000); });
  }
  setTimeout(check, 4000);
})();
