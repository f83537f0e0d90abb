// new-password page script: ticks the password rules the browser can check and shows a
// strength hint while the member types. The server checks everything again; without this
// script the page works the same, only without the live hints.
(function () {
  "use strict";
  var input = document.getElementById("f-new_password");
  var confirmInput = document.getElementById("f-new_password_confirm");
  var meter = document.querySelector(".strength");
  var label = document.getElementById("pw-strength");
  if (!input || !meter || !label) return;

  var checks = {
    length: function (p) { return p.length >= 8 && p.length <= 64; },
    upper: function (p) { return /[A-Z]/.test(p); },
    lower: function (p) { return /[a-z]/.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    symbol: function (p) { return /[!-\/:-@\[-`{-~]/.test(p); },
    ascii: function (p) { return p.length > 0 && /^[!-~]+$/.test(p); }
  };
  var levels = (label.getAttribute("data-levels") || "").split("|");
  var prefix = label.getAttribute("data-prefix") || "";
  var timer = null;

  // A rough estimate: bits from the length and the kinds of characters, less for repeats,
  // runs (abcd, 1234) and the most common words.
  function strength(p) {
    if (!p) return 0;
    var pool = 0;
    if (/[a-z]/.test(p)) pool += 26;
    if (/[A-Z]/.test(p)) pool += 26;
    if (/[0-9]/.test(p)) pool += 10;
    if (/[^A-Za-z0-9]/.test(p)) pool += 32;
    var distinct = {};
    var runs = 0;
    for (var i = 0; i < p.length; i++) {
      distinct[p[i]] = true;
      if (i > 0) {
        var d = p.charCodeAt(i) - p.charCodeAt(i - 1);
        if (d === 0 || d === 1 || d === -1) runs++;
      }
    }
    var effective = Math.max(1, Object.keys(distinct).length + (p.length - runs) / 2) ;
    effective = Math.min(p.length, effective);
    var bits = effective * Math.log(Math.max(pool, 2)) / Math.LN2;
    if (/password|passw0rd|qwerty|kenpo|letmein|welcome|admin/i.test(p)) bits -= 20;
    if (bits < 40) return 1;
    if (bits < 60) return 2;
    if (bits < 80) return 3;
    return 4;
  }

  function update() {
    var p = input.value;
    var allOk = true;
    var items = document.querySelectorAll("#pw-rules li[data-rule]");
    for (var i = 0; i < items.length; i++) {
      var li = items[i];
      var check = checks[li.getAttribute("data-rule")];
      var ok = !!(check && check(p));
      allOk = allOk && ok;
      li.setAttribute("data-ok", ok ? "true" : "false");
      var mark = li.querySelector(".mark");
      if (mark) mark.textContent = ok ? "✓" : "・";
    }
    var level = strength(p);
    if (!allOk && level > 1) level = 1;
    meter.setAttribute("data-level", String(level));
    // Announce the hint once typing pauses, not at every key.
    clearTimeout(timer);
    timer = setTimeout(function () {
      label.textContent = level > 0 ? prefix + (levels[level - 1] || "") : "";
    }, 600);
  }

  input.addEventListener("input", update);
  if (confirmInput) confirmInput.addEventListener("input", function () {
    if (confirmInput.getAttribute("aria-invalid") === "true" && confirmInput.value === input.value) {
      confirmInput.removeAttribute("aria-invalid");
    }
  });
  update();
})();
