// Passkey ceremonies of the hosted pages (no inline script: the CSP allows only this file).
//
//   data-action="passkey-register"      enrol-passkey page: create a passkey
//   data-action="passkey-authenticate"  mfa-passkey page: second factor after the password
//   data-action="passkey-login"         login page: sign in without a password
//   + conditional mediation on the login page (the browser offers passkeys in the user ID
//     field's autofill).
//
// Each ceremony: POST JSON to the form's data-options → {ceremony, options}; run WebAuthn;
// POST JSON to data-finish → {redirect} (go there) or {error} (show it). Every browser error is
// turned into a plain message with what to do next. Nothing here is trusted by the server.
(function () {
  "use strict";

  var ja = (document.documentElement.lang || "ja").indexOf("en") !== 0;
  var T = {
    unsupported: ja
      ? "このブラウザはパスキーに対応していません。新しいブラウザ（Chrome、Edge、Safari）をお使いいただくか、別の方法をお選びください。"
      : "This browser does not support passkeys. Use an up-to-date Chrome, Edge or Safari, or choose another method.",
    cancelled: ja
      ? "パスキーの操作がキャンセルされたか、時間切れになったか、本人確認（顔認証・指紋認証・画面ロック）ができませんでした。もう一度ボタンを押してください。"
      : "The passkey request was cancelled, timed out, or your face, fingerprint or screen lock could not be checked. Please press the button again.",
    phone: ja
      ? "スマートフォンを使う場合は、パソコンとスマートフォンのBluetoothをオンにして近くに置き、表示された二次元コードを読み取ってください。近くにスマートフォンがない場合は、別の方法をお選びください。"
      : "To use a phone, turn Bluetooth on on both devices, keep them close, and scan the QR code. If no phone is at hand, choose another method.",
    already: ja
      ? "この端末のパスキーはすでに登録されています。そのままログインに使えます。別の端末を登録する場合は、その端末で操作してください。"
      : "This device's passkey is already registered, so you can use it to sign in. To add another device, do this on that device.",
    security: ja
      ? "このページではパスキーを使えません。アドレス欄のURLが正しいかご確認ください。"
      : "Passkeys cannot be used on this page. Please check the address in the address bar.",
    label: ja ? "端末の名前を入力してください。" : "Enter a name for the device.",
    network: ja
      ? "通信できませんでした。接続をご確認のうえ、もう一度お試しください。"
      : "Could not reach the server. Check your connection and try again.",
    failed: ja
      ? "パスキーを確認できませんでした。もう一度お試しください。うまくいかない場合は別の方法をお選びください。"
      : "Your passkey could not be verified. Please try again, or use another method.",
    working: ja
      ? "パスキーの画面に従って操作してください…"
      : "Follow the passkey prompt on your screen…",
    signingIn: ja ? "確認しています…" : "Checking…"
  };

  // ---- encoding ----
  function toB64url(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromB64url(str) {
    var s = str.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function creationOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    pk.excludeCredentials = (pk.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return pk;
  }
  function requestOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.allowCredentials = (pk.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return pk;
  }
  function registrationJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: typeof r.getTransports === "function" ? r.getTransports() : undefined
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }
  function assertionJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  // ---- messages ----
  function show(box, text, kind) {
    if (!box) return;
    box.textContent = text || "";
    box.className = (box.className.replace(/\b(alert|notice)\b/g, "").trim() + " " + (text ? kind || "alert" : "")).trim();
  }
  function explain(err, creating) {
    var name = err && err.name;
    if (name === "InvalidStateError" && creating) return T.already;
    if (name === "NotAllowedError" || name === "TimeoutError") return T.cancelled + " " + T.phone;
    if (name === "NotSupportedError") return T.unsupported;
    if (name === "SecurityError") return T.security;
    if (name === "TypeError" && err.message === "network") return T.network;
    return T.failed;
  }

  // ---- server calls ----
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(
      function (res) {
        return res.json().then(
          function (j) { return j; },
          function () { return { error: T.failed }; }
        );
      },
      function () { var e = new TypeError("network"); throw e; }
    );
  }
  function fields(form) {
    var out = {};
    new FormData(form).forEach(function (v, k) { if (typeof v === "string") out[k] = v; });
    return out;
  }
  function follow(answer, box) {
    if (answer && answer.redirect) {
      show(box, T.signingIn, "notice");
      window.location.assign(answer.redirect);
      return true;
    }
    show(box, (answer && answer.error) || T.failed, "alert");
    return false;
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  // One ceremony of a page form: register or authenticate.
  function ceremony(button, creating) {
    var form = button.closest("form");
    var box = form.querySelector(".passkey-status");
    if (!supported) { show(box, T.unsupported); return; }
    var data = fields(form);
    if (creating && !(data.label || "").trim()) {
      show(box, T.label);
      var input = form.querySelector("[name=label]");
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
      return;
    }
    button.disabled = true;
    show(box, T.working, "notice");
    post(form.dataset.options, data)
      .then(function (answer) {
        if (!answer || !answer.options) { follow(answer, box); return null; }
        var call = creating
          ? navigator.credentials.create({ publicKey: creationOptions(answer.options) })
          : navigator.credentials.get({ publicKey: requestOptions(answer.options) });
        return call.then(function (cred) {
          var body = Object.assign({}, data, {
            ceremony: answer.ceremony,
            credential: creating ? registrationJSON(cred) : assertionJSON(cred)
          });
          return post(form.dataset.finish, body).then(function (a) { follow(a, box); });
        });
      })
      .catch(function (err) { show(box, explain(err, creating)); })
      .then(function () { button.disabled = false; });
  }

  document.querySelectorAll('[data-action="passkey-register"]').forEach(function (b) {
    b.addEventListener("click", function () { ceremony(b, true); });
  });
  document.querySelectorAll('[data-action="passkey-authenticate"]').forEach(function (b) {
    b.addEventListener("click", function () { ceremony(b, false); });
  });

  // ---- login page: button and autofill ----
  var loginButton = document.querySelector('[data-action="passkey-login"]');
  if (!loginButton) return;
  var loginForm = document.querySelector('form[action="/login"]');
  var status = document.querySelector(".passkey-status");
  var pending = null; // the conditional request, aborted when the button is used

  function loginData() {
    var d = loginForm ? fields(loginForm) : {};
    return {
      csrf: d.csrf || "",
      flow: d.flow || loginButton.dataset.flow || null,
      remember: d.remember || null
    };
  }

  function signIn(conditional) {
    var data = loginData();
    return post("/login/passkey/options", { csrf: data.csrf }).then(function (answer) {
      if (!answer || !answer.options) { if (!conditional) follow(answer, status); return; }
      var options = { publicKey: requestOptions(answer.options) };
      if (conditional) {
        pending = new AbortController();
        options.mediation = "conditional";
        options.signal = pending.signal;
      }
      return navigator.credentials.get(options).then(function (cred) {
        pending = null;
        show(status, T.signingIn, "notice");
        return post("/login/passkey/finish", Object.assign(data, {
          ceremony: answer.ceremony,
          credential: assertionJSON(cred)
        })).then(function (a) { follow(a, status); });
      });
    });
  }

  loginButton.addEventListener("click", function () {
    if (!supported) { show(status, T.unsupported); return; }
    if (pending) { pending.abort(); pending = null; }
    loginButton.disabled = true;
    show(status, T.working, "notice");
    signIn(false)
      .catch(function (err) { show(status, explain(err, false)); })
      .then(function () { loginButton.disabled = false; });
  });

  if (supported && typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (!ok) return;
      signIn(true).catch(function (err) {
        // An aborted autofill request (the button was pressed) is not an error.
        if (err && err.name !== "AbortError") show(status, explain(err, false));
      });
    });
  }
})();
