// Passkeys in the browser (WebAuthn): adding one on the account page ([data-passkey-register]
// forms) and signing in ([data-passkey-sign-in], with autofill where the browser offers it).
// The server's JSON carries binary values as base64url; answers go back the same way.
// Served by the framework at /static/_vibetuner/<hash>/js/passkeys.js, cached like the app's bundle.
(() => {
  if (window.vibetunerPasskeys) return;
  window.vibetunerPasskeys = true;
  const supported = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

  const toBytes = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  };
  const toText = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  const answer = (credential) => {
    const r = credential.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type, response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  };

  const post = async (url, token, body) => {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": token },
    });
    const data = await response.json().catch(() => ({}));
    if (response.ok) return data;
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join(" ") : data.detail;
    throw Object.assign(new Error(detail || response.statusText), { fromServer: true });
  };

  const say = (box, message) => {
    const line = box.querySelector("[data-passkey-error]");
    if (line) line.textContent = message || "";
  };
  const why = (box, error) => {
    if (error.fromServer) return error.message;
    if (error.name === "NotAllowedError" || error.name === "AbortError") return box.dataset.cancelled;
    if (error.name === "InvalidStateError" && box.dataset.exists) return box.dataset.exists;
    return box.dataset.failed;
  };

  // Adding a passkey: the name, then the browser's dialog, then the server keeps it.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-passkey-register")) return;
    event.preventDefault();
    if (!supported) return say(form, form.dataset.unsupported);
    const name = form.elements.namedItem("name").value;
    const button = form.querySelector("[data-passkey-add]");
    button.disabled = true;
    say(form, "");
    try {
      const token = form.dataset.csrfToken;
      const options = await post(form.dataset.optionsUrl, token, { name });
      options.challenge = toBytes(options.challenge);
      options.user.id = toBytes(options.user.id);
      for (const known of options.excludeCredentials || []) known.id = toBytes(known.id);
      const credential = await navigator.credentials.create({ publicKey: options });
      await post(form.dataset.registerUrl, token, { name, credential: answer(credential) });
      document.body.dispatchEvent(new CustomEvent("passkeys-changed"));
    } catch (error) {
      say(form, why(form, error));
    } finally {
      button.disabled = false;
    }
  });

  // Signing in: the button asks at once; autofill (conditional UI) waits in the email field.
  let current = null;
  const signIn = async (box, autofill) => {
    current?.abort();
    const controller = (current = new AbortController());
    let answered = false;
    try {
      const token = box.dataset.csrfToken;
      const options = await post(box.dataset.optionsUrl, token, {});
      options.challenge = toBytes(options.challenge);
      for (const known of options.allowCredentials || []) known.id = toBytes(known.id);
      const credential = await navigator.credentials.get({
        publicKey: options, signal: controller.signal, ...(autofill ? { mediation: "conditional" } : {}),
      });
      answered = true;
      say(box, "");
      const done = await post(box.dataset.signInUrl, token, { credential: answer(credential), next: box.dataset.next });
      location.assign(done.redirect);
    } catch (error) {
      if (controller.signal.aborted) return;  // a newer request replaced this one
      if (!autofill || answered) say(box, why(box, error));
      if (answered) offerInAutofill(box);  // the server said no: autofill stays available
    }
  };
  const offerInAutofill = async (box) => {
    const available = supported && PublicKeyCredential.isConditionalMediationAvailable;
    if (available && (await PublicKeyCredential.isConditionalMediationAvailable())) signIn(box, true);
  };
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("[data-passkey-button]");
    const box = button && button.closest("[data-passkey-sign-in]");
    if (!box) return;
    if (!supported) return say(box, box.dataset.unsupported);
    signIn(box, false);
  });
  const box = document.querySelector("[data-passkey-sign-in]");
  if (box && supported) {
    box.hidden = false;
    offerInAutofill(box);
  }
})();
