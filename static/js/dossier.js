/* The dossier pages' enhancements; without this script every form works as a plain form.
   - Forms marked data-tus: resumable attachment uploads (tus 1.0). The file goes in small
     chunks, each acknowledged by the server; after a dropped link (or a reload of the page)
     the upload asks the server how much it has and goes on from there.
   - Forms marked data-autosave: the answers are saved as they change, and the server's
     status fragment replaces the element named by data-autosave. (The same exchange as
     htmx's hx-post; done here so this page needs no 12 KB library on a slow link.) */
(function () {
  "use strict";
  var CHUNK = 256 * 1024; // about 8 s on a 256 kbit/s link: little is lost when it drops
  var MAX_WAIT = 30000;

  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, k) { return values[k]; });
  }

  function size(n) {
    return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.ceil(n / 1024) + " KB";
  }

  function b64(bytes) {
    var s = "";
    var view = new Uint8Array(bytes);
    for (var i = 0; i < view.length; i++) s += String.fromCharCode(view[i]);
    return btoa(s);
  }

  function request(method, url, token, headers, body, onprogress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      xhr.setRequestHeader("X-CSRF-Token", token);
      Object.keys(headers).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      if (onprogress) xhr.upload.onprogress = onprogress;
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () { resolve(null); };
      xhr.timeout = 120000;
      xhr.send(body || null);
    });
  }

  function wait(ms) {
    return new Promise(function (resolve) {
      var done = function () { window.removeEventListener("online", done); resolve(); };
      window.addEventListener("online", done);
      setTimeout(done, ms);
    });
  }

  async function checksum(blob) {
    if (!window.crypto || !window.crypto.subtle) return null; // only in secure contexts
    var digest = await window.crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
    return "sha256 " + b64(digest);
  }

  function Ui(form) {
    var box = document.createElement("div");
    box.className = "app-progress";
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var text = document.createElement("p");
    text.className = "app-hint";
    text.setAttribute("role", "status");
    box.appendChild(bar);
    box.appendChild(text);
    form.appendChild(box);
    var d = form.dataset;
    return {
      progress: function (sent, total) {
        var pct = Math.floor((sent * 100) / total);
        bar.value = pct;
        text.textContent = fmt(d.msgProgress, { sent: size(sent), total: size(total), pct: pct });
      },
      say: function (message) { text.textContent = message; },
      fail: function (message) {
        box.remove();
        var error = form.querySelector(".app-upload__error") || document.createElement("p");
        error.className = "app-field-error app-upload__error";
        error.setAttribute("role", "alert");
        error.textContent = message || d.msgFailed;
        form.insertBefore(error, form.firstChild);
      }
    };
  }

  async function offsetOf(url, token) {
    var xhr = await request("HEAD", url, token, {});
    if (!xhr) return null; // still offline
    if (xhr.status !== 200) return -1; // gone: start again
    return parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
  }

  async function create(form, file, token) {
    var meta = { filename: file.name, document: form.dataset.document, purpose: form.dataset.purpose };
    var encoded = Object.keys(meta).map(function (k) {
      return k + " " + btoa(unescape(encodeURIComponent(meta[k])));
    }).join(",");
    var xhr = await request("POST", form.dataset.tus, token,
      { "Upload-Length": String(file.size), "Upload-Metadata": encoded });
    return xhr;
  }

  async function send(form, file) {
    var token = form.elements.csrf_token.value;
    var ui = Ui(form);
    var key = "tus:" + form.dataset.tus + ":" + form.dataset.document + ":" + file.name + ":" +
      file.size + ":" + file.lastModified;
    var url = localStorage.getItem(key);
    var offset = url ? await offsetOf(url, token) : -1;
    if (offset === null || offset < 0) {
      var created = await create(form, file, token);
      if (!created || created.status !== 201) {
        ui.fail(created && created.responseText);
        return;
      }
      url = created.getResponseHeader("Location");
      localStorage.setItem(key, url);
      offset = 0;
    }
    var pause = 1000;
    while (offset < file.size) {
      ui.progress(offset, file.size);
      var chunk = file.slice(offset, offset + CHUNK);
      var headers = { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(offset) };
      var sum = await checksum(chunk);
      if (sum) headers["Upload-Checksum"] = sum;
      var start = offset;
      var xhr = await request("PATCH", url, token, headers, chunk, function (e) {
        ui.progress(start + e.loaded, file.size);
      });
      if (xhr && xhr.status === 204) {
        offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
        pause = 1000;
        continue;
      }
      if (xhr && xhr.status >= 400 && xhr.status < 500 && xhr.status !== 409 && xhr.status !== 460) {
        localStorage.removeItem(key);
        ui.fail(xhr.responseText);
        return;
      }
      ui.say(form.dataset.msgRetry);
      await wait(pause);
      pause = Math.min(pause * 2, MAX_WAIT);
      var known = await offsetOf(url, token);
      if (known === -1) {
        localStorage.removeItem(key);
        ui.fail();
        return;
      }
      if (known !== null) offset = known;
    }
    localStorage.removeItem(key);
    ui.progress(file.size, file.size);
    ui.say(form.dataset.msgDone);
    var target = new URL(form.dataset.done, window.location.href);
    if (target.pathname === window.location.pathname && target.search === window.location.search) {
      window.location.hash = target.hash;
      window.location.reload(); // show the attached file, as the plain form's redirect does
    } else {
      window.location.assign(target.href);
    }
  }

  function enhance(form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      if (!input || !input.files.length || !window.Promise || !window.localStorage) return;
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      send(form, input.files[0]).finally(function () { if (button) button.disabled = false; });
    });
  }

  function autosave(form) {
    var timer = null;
    var save = function () {
      var body = new URLSearchParams(new FormData(form));
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
                           headers: { "HX-Request": "true" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var target = document.getElementById(form.dataset.autosave);
          if (target) target.outerHTML = html;
        })
        .catch(function () {
          var target = document.getElementById(form.dataset.autosave);
          if (target) target.textContent = form.dataset.msgUnsaved;
        });
    };
    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(save, 300);
    });
  }

  document.querySelectorAll("form[data-tus]").forEach(enhance);
  document.querySelectorAll("form[data-autosave]").forEach(autosave);
})();
