// Helpline web chat: fetch new messages every few seconds so the page need not reload.
// Without JavaScript the page reloads itself (a <noscript> meta refresh) instead.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  var list = document.getElementById("messages");
  var status = document.getElementById("chat-status");
  if (!form || !list) { return; }
  var url = form.getAttribute("data-poll");
  var shown = list.children.length;
  function render(lines) {
    for (var i = shown; i < lines.length; i++) {
      var line = lines[i];
      var li = document.createElement("li");
      li.className = "chat-" + line.who;
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = list.getAttribute("data-" + line.who) || line.who;
      var at = document.createElement("span");
      at.className = "at";
      at.textContent = line.at;
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = line.text;
      li.appendChild(who); li.appendChild(document.createTextNode(" "));
      li.appendChild(at); li.appendChild(document.createTextNode(" "));
      li.appendChild(text);
      list.appendChild(li);
    }
    shown = lines.length;
  }
  function poll() {
    fetch(url, { credentials: "omit", cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      render(data.lines);
      if (data.status === "ended") {
        form.hidden = true;
        window.location.reload();
        return;
      }
      window.setTimeout(poll, 4000);
    }).catch(function () { window.setTimeout(poll, 8000); });
  }
  window.setTimeout(poll, 4000);
})();
