// "Verify this trade" on a trade's page: checks, in the browser, with WebCrypto (SHA-256 and Ed25519),
// that the record the proof carries is this page's trade (its kind, id, leaf, security, price, quantity and
// the parties the reader may see), that it is in the ledger (RFC 9162 inclusion proof to the checkpoint's root), that the
// checkpoint is signed by an exchange key the user pinned (C2SP signed-note, type 0x01), and which pinned
// witnesses co-signed it (C2SP tlog-cosignature, type 0x04). Keys are pinned in localStorage on the first
// check (trust on first use, said so on screen) and only pinned keys are used afterwards.
(function () {
  "use strict";
  var panel = document.getElementById("verify-panel");
  var button = document.getElementById("verify-run");
  if (!panel || !button) return;
  var result = document.getElementById("verify-result");
  var repin = document.getElementById("verify-repin");
  var T = JSON.parse(document.getElementById("verify-texts").textContent);
  var FACTS = JSON.parse(document.getElementById("verify-facts").textContent);
  var PINS = "otc-ledger-pins-v1";
  var enc = new TextEncoder();

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values && k in values ? values[k] : ""; });
  }
  function b64(s) { return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); }); }
  function hex(s) { var out = new Uint8Array(s.length / 2); for (var i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16); return out; }
  function concat(parts) {
    var n = 0; parts.forEach(function (p) { n += p.length; });
    var out = new Uint8Array(n), at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }
  function equal(a, b) { if (a.length !== b.length) return false; for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }
  async function sha256(parts) { return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(parts))); }
  async function keyHash(name, type, pub) { return (await sha256([enc.encode(name + "\n"), new Uint8Array([type]), pub])).slice(0, 4); }
  async function ed25519Verify(pub, sig, msg) {
    var key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, sig, msg);
  }

  // RFC 9162 2.1.3.2: the root an inclusion proof leads to.
  async function rootFromInclusion(index, size, leaf, proof) {
    if (index >= size) throw new Error("leaf outside the tree");
    var fn = index, sn = size - 1, r = leaf;
    for (var i = 0; i < proof.length; i++) {
      if (sn === 0) throw new Error("proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256([new Uint8Array([1]), proof[i], r]);
        if (fn % 2 === 0) { while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await sha256([new Uint8Array([1]), r, proof[i]]);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("proof too short");
    return r;
  }

  // A C2SP signed note, as the offline verifier (ledger/verifier.py) reads it: no control character but newlines;
  // a body of at least three non-empty lines, its tree size a decimal without leading zeros and its root 32
  // bytes of base64; a blank line; then 1 to 64 lines "— <key name> <base64 of a 4-byte key hash and a
  // signature>", the last ending with one newline. A key name is non-empty, without a Unicode space or a plus;
  // any other character may be in it (a line of an unknown key is ignored, whatever its name). Anything else is
  // not a note the exchange signed: "malformed note", as offline.
  var NAME_BANNED = /[\u0000-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]/;
  var BASE64 = /^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=)?$/;
  function malformed() { return new Error("malformed note"); }
  function strictB64(s) { if (!BASE64.test(s)) throw malformed(); return b64(s); }
  function parseNote(note) {
    if (/[\u0000-\u0009\u000b-\u001f]/.test(note) || !/[^\n]\n$/.test(note)) throw malformed();
    var cut = note.lastIndexOf("\n\n");
    if (cut < 0) throw malformed();
    var text = note.slice(0, cut + 1);
    var lines = text.split("\n").slice(0, -1);
    if (lines.length < 3 || lines.indexOf("") >= 0) throw malformed();
    if (!/^(0|[1-9][0-9]{0,14})$/.test(lines[1])) throw malformed();
    var root = strictB64(lines[2]);
    if (root.length !== 32) throw malformed();
    var sigLines = note.slice(cut + 2, -1).split("\n");
    if (sigLines.length > 64) throw malformed();
    var sigs = sigLines.map(function (line) {
      var parts = line.split(" ");
      if (parts.length !== 3 || parts[0] !== "\u2014" || parts[1] === "" || NAME_BANNED.test(parts[1])) throw malformed();
      var blob = strictB64(parts[2]);
      if (blob.length < 5) throw malformed();
      return { name: parts[1], hash: blob.slice(0, 4), rest: blob.slice(4) };
    });
    var block = /^block (0|[1-9][0-9]{0,14}) /.exec(lines[3] || "");
    return { text: text, size: parseInt(lines[1], 10), root: root, height: block ? parseInt(block[1], 10) : null, sigs: sigs };
  }

  function parseVkey(vkey) {
    var first = vkey.indexOf("+"), second = vkey.indexOf("+", first + 1);
    var blob = b64(vkey.slice(second + 1));
    return { name: vkey.slice(0, first), type: blob[0], pub: blob.slice(1), vkey: vkey };
  }

  // A decimal as text without trailing zeros ("8.2200" and "8.22" are one price).
  function decimalText(value) {
    var text = String(value);
    return text.indexOf(".") < 0 ? text : text.replace(/0+$/, "").replace(/\.$/, "");
  }

  // Which of this page's facts the record the proof carries does not have (null: none). The proof's entry is
  // checked against the signed root below; this binds that entry to the trade the page shows, so that a
  // genuine record of another trade does not pass for this one.
  function recordDiffers(bundle) {
    var doc;
    try { doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b64(bundle.entry))); } catch (e) { return "kind"; }
    var p = doc && typeof doc.payload === "object" ? doc.payload : null;
    if (!p || doc.kind !== "TRADE") return "kind";
    if (bundle.leaf_index !== FACTS.leaf) return "leaf";
    if (String(p.trade_id) !== String(FACTS.trade)) return "trade";
    if (p.security !== FACTS.security) return "security";
    if (decimalText(p.price) !== decimalText(FACTS.price)) return "price";
    if (String(p.quantity) !== String(FACTS.quantity)) return "quantity";
    if (FACTS.buyer !== null && p.buyer !== FACTS.buyer) return "buyer";
    if (FACTS.seller !== null && p.seller !== FACTS.seller) return "seller";
    return null;
  }

  async function getJSON(url) {
    var response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  // The exchange's keys as it lists them now (with their status and id, which pins do not keep).
  var listed = [];

  async function serverKeys() {
    var keys = await getJSON(panel.dataset.keysUrl);
    var witnesses = await getJSON(panel.dataset.witnessesUrl);
    listed = keys.filter(function (k) { return k.local; });
    return {
      exchange: listed.map(function (k) { return { name: k.name, public_key: k.public_key, until: k.retired_in_block }; }),
      witnesses: witnesses.witnesses.map(function (w) { return w.verifier_key; }),
    };
  }

  // A key signs up to the block that retires it, as the exchange lists it now (or as pinned): a retired key's
  // signature on a later checkpoint is no signature (its private half may have been kept), as the offline
  // verifier and ledger_verify hold. The list can only shorten what a pin allows, never lengthen it.
  function validAt(k, height) {
    var limits = [k.until];
    listed.forEach(function (l) { if (l.name === k.name && l.public_key === k.public_key) limits.push(l.retired_in_block); });
    return limits.every(function (u) { return u === null || u === undefined || (height !== null && height <= u); });
  }

  async function signedBy(k, note) {
    if (!validAt(k, note.height)) return false;
    var pub = b64(k.public_key), kh = await keyHash(k.name, 1, pub);
    for (var j = 0; j < note.sigs.length; j++) {
      var s = note.sigs[j];
      if (s.name === k.name && equal(s.hash, kh) && await ed25519Verify(pub, s.rest, enc.encode(note.text))) return true;
    }
    return false;
  }

  // After a key rotation a pinned key no longer signs: the key that does is one the exchange lists beside the
  // pinned key, now retired. Not verified (the pins do not vouch for it), but not a forgery to report either.
  async function rotatedSigner(pins, note) {
    var pinned = pins.exchange.map(function (k) { return k.name + " " + k.public_key; });
    var retiredPin = listed.some(function (k) { return k.status === "retired" && pinned.indexOf(k.name + " " + k.public_key) >= 0; });
    if (!retiredPin) return null;
    for (var i = 0; i < listed.length; i++) {
      var k = listed[i];
      if (k.status !== "retired" && pinned.indexOf(k.name + " " + k.public_key) < 0 && await signedBy(k, note)) return k;
    }
    return null;
  }

  function samePins(a, b) {
    var ka = a.exchange.map(function (k) { return k.name + k.public_key; }).concat(a.witnesses).sort().join("|");
    var kb = b.exchange.map(function (k) { return k.name + k.public_key; }).concat(b.witnesses).sort().join("|");
    return ka === kb;
  }

  function show(items, verdict) {
    result.textContent = "";
    var list = document.createElement("ul");
    list.className = "checks";
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = item.ok === true ? "ok" : item.ok === false ? "bad" : "info";
      li.textContent = item.text;
      if (item.check) li.dataset.check = item.check;
      list.appendChild(li);
    });
    result.appendChild(list);
    var p = document.createElement("p");
    p.id = "verify-verdict";
    p.className = "msg " + (verdict.ok ? "msg-success" : verdict.ok === false ? "msg-error" : "msg-warning");
    p.dataset.ok = String(verdict.ok);
    p.textContent = verdict.text;
    result.appendChild(p);
  }

  async function run() {
    result.textContent = T.running;
    if (!window.crypto || !crypto.subtle) { show([], { ok: null, text: T.no_webcrypto }); return; }
    var items = [];
    var current = await serverKeys();
    var pins = null;
    try { pins = JSON.parse(localStorage.getItem(PINS) || "null"); } catch (e) { pins = null; }
    if (!pins) {
      pins = current;
      localStorage.setItem(PINS, JSON.stringify(pins));
      items.push({ ok: null, text: T.pinned_now });
    } else if (!samePins(pins, current)) {
      items.push({ ok: null, text: T.keys_changed });
      repin.hidden = false;
    }
    var url = panel.dataset.proofUrl + (panel.dataset.treeSize ? "?tree_size=" + panel.dataset.treeSize : "");
    var bundle = await getJSON(url);
    var note = parseNote(bundle.checkpoint);

    // 1. the record is this page's trade
    var differs = recordDiffers(bundle);
    items.push(differs === null
      ? { ok: true, check: "record", text: fill(T.record_ok, { trade: FACTS.trade, quantity: FACTS.quantity_text, security: FACTS.security, price: FACTS.price_text }) }
      : { ok: false, check: "record", text: fill(T.record_bad, { field: T.fields[differs] }) });

    // 2. the record: its leaf hash, and the inclusion proof to the signed root
    var leaf = await sha256([new Uint8Array([0]), b64(bundle.entry)]);
    var proof = bundle.proof.map(hex);
    var leafOk = equal(leaf, hex(bundle.leaf_hash)) && note.size === bundle.tree_size &&
      equal(await rootFromInclusion(bundle.leaf_index, bundle.tree_size, leaf, proof), note.root);
    items.push({ ok: leafOk, check: "inclusion", text: leafOk ? T.leaf_ok : T.leaf_bad });

    // 3. the exchange's signature, by a pinned key
    var signer = null, rotated = null;
    for (var i = 0; i < pins.exchange.length && !signer; i++) {
      if (await signedBy(pins.exchange[i], note)) signer = pins.exchange[i].name;
    }
    if (!signer) rotated = await rotatedSigner(pins, note);
    if (signer) items.push({ ok: true, check: "signature", text: fill(T.sig_ok, { name: signer }) });
    else if (rotated) items.push({ ok: null, check: "signature", text: fill(T.sig_rotated, { name: rotated.name, id: rotated.key_id }) });
    else items.push({ ok: false, check: "signature", text: T.sig_bad });

    // 4. the witnesses' co-signatures, by pinned witness keys
    var cosigners = 0, forged = false;
    for (var w = 0; w < pins.witnesses.length; w++) {
      var wk = parseVkey(pins.witnesses[w]), wh = await keyHash(wk.name, 4, wk.pub);
      for (var m = 0; m < note.sigs.length; m++) {
        var c = note.sigs[m];
        if (c.name !== wk.name || !equal(c.hash, wh) || c.rest.length !== 72) continue;
        var ts = 0; for (var b = 0; b < 8; b++) ts = ts * 256 + c.rest[b];
        var msg = concat([enc.encode("cosignature/v1\ntime " + ts + "\n"), enc.encode(note.text)]);
        if (await ed25519Verify(wk.pub, c.rest.slice(8), msg)) {
          cosigners++;
          items.push({ ok: true, text: fill(T.cos_ok, { name: wk.name, time: new Date(ts * 1000).toLocaleString("sv-SE", { timeZone: "Asia/Shanghai" }) }) });
        } else { forged = true; items.push({ ok: false, text: T.cos_bad }); }
      }
    }
    if (pins.witnesses.length && !cosigners && !forged) items.push({ ok: null, text: T.cos_missing });

    var good = differs === null && leafOk && !!signer && !forged;
    if (!good && rotated && differs === null && leafOk && !forged) show(items, { ok: null, text: T.rotated });
    else if (!good) show(items, { ok: false, text: T.failed });
    else if (cosigners) show(items, { ok: true, text: T.all_ok });
    else show(items, { ok: null, text: T.signed_only });
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    run().catch(function (e) { show([], { ok: false, text: fill(T.error, { msg: e.message }) }); })
      .finally(function () { button.disabled = false; });
  });
  repin.addEventListener("click", function () {
    localStorage.removeItem(PINS);
    repin.hidden = true;
    button.click();
  });
})();
