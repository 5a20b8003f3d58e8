// The staff console's little bit of behaviour; every page also works without it.
(function () {
  "use strict";
  // Live preview of an answer while it is typed.
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    const preview = document.getElementById(area.dataset.preview);
    if (!preview) return;
    area.addEventListener("input", function () { window.renderChatText(preview, area.value); });
  });

  // Ask before removing or reverting.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // In a label form, Enter in a field presses that field's own button, not the form's first one.
  document.querySelectorAll(".label-form input[data-enter]").forEach(function (input) {
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const button = input.form.querySelector("button[name=kind][value='" + input.dataset.enter + "']");
      if (button) button.click();
    });
  });

  // "New FAQ entry" from a group takes only the questions still ticked.
  document.querySelectorAll(".label-form").forEach(function (form) {
    const link = form.querySelector("a.new-faq");
    const boxes = form.querySelectorAll("input[type=checkbox][name=turn]");
    if (!link || !boxes.length) return;
    function update() {
      const ids = Array.from(boxes).filter(function (b) { return b.checked; }).map(function (b) { return "turn=" + b.value; });
      link.href = "/console/create?" + ids.join("&");
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
  });
  // Inbox: the list is fetched again whenever the server says it changed (server-sent events).
  const inboxList = document.getElementById("inbox-list");
  const inboxCount = document.getElementById("inbox-count");
  if (inboxList && window.EventSource) {
    const events = new EventSource(inboxList.dataset.live);
    events.onmessage = async function (event) {
      const data = JSON.parse(event.data);
      if (inboxCount) inboxCount.textContent = String(data.waiting);
      const response = await fetch(inboxList.dataset.list, { headers: { "Accept": "text/html" } });
      if (response.ok) inboxList.innerHTML = await response.text();  // our own escaped template
    };
  }

  // A conversation: new lines appear as they are written; a claim or hand-back by someone
  // else reloads the page (unless a reply is being typed) so the buttons match the state.
  const transcript = document.getElementById("transcript");
  if (transcript && window.EventSource) {
    const url = transcript.dataset.live + "?after=" + encodeURIComponent(transcript.dataset.cursor);
    const events = new EventSource(url);
    const replyText = document.getElementById("reply-text");
    let leaving = false;  // a form was sent: its answer is the next page, not a reload
    window.addEventListener("beforeunload", function () { leaving = true; events.close(); });
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (event) { if (!event.defaultPrevented) leaving = true; });
    });
    events.onmessage = function (event) {
      if (leaving) return;
      const line = JSON.parse(event.data);
      transcript.appendChild(renderLine(line));
      transcript.lastElementChild.scrollIntoView({ block: "nearest" });
      if (line.role === "event" && line.kind !== "opened" && !(replyText && replyText.value.trim())) {
        events.close();
        window.location.reload();
      }
    };
  }

  function renderLine(line) {
    const item = document.createElement("li");
    item.className = "line " + line.role + (line.kind ? " " + line.kind : "") + " fresh";
    const head = document.createElement("p");
    if (line.role === "event") {
      head.className = "event-text";
      head.textContent = line.kind === "claimed" ? line.author + " took the conversation"
        : line.kind === "closed" ? line.author + " handed it back to the bot" : "Queued for a person: " + line.text;
      item.appendChild(head);
      return item;
    }
    head.className = "said-by";
    head.textContent = (line.role === "customer" ? "Customer" : line.role === "staff" ? line.author : "Bot") + " " + line.when;
    if (line.role === "bot" && line.kind !== "acknowledgement") {
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = line.action + (line.intent ? " · intent " + line.intent : "") + (line.faq_id ? " · FAQ " + line.faq_id : "");
      head.appendChild(meta);
    }
    const bubble = document.createElement("p");
    bubble.className = "bubble";
    window.renderChatText(bubble, line.text);
    item.appendChild(head);
    item.appendChild(bubble);
    return item;
  }

  // Insert the chosen FAQ answer into the reply, at the cursor.
  const insert = document.getElementById("insert-answer");
  const choice = document.getElementById("faq-insert");
  const reply = document.getElementById("reply-text");
  if (insert && choice && reply) {
    insert.addEventListener("click", function () {
      const option = choice.selectedOptions[0];
      if (!option) return;
      const start = reply.selectionStart, end = reply.selectionEnd;
      reply.value = reply.value.slice(0, start) + option.dataset.answer + reply.value.slice(end);
      reply.focus();
    });
  }
  // Try a conversation: messages go to /console/try/say as one rehearsed customer.
  const sayForm = document.getElementById("try-say");
  const tryTranscript = document.getElementById("try-transcript");
  if (sayForm && tryTranscript) {
    let conversation = sayForm.dataset.conversation;
    const textInput = document.getElementById("try-text");
    function line(role, text, meta) {
      const item = document.createElement("li");
      item.className = "line " + role;
      const bubble = document.createElement("p");
      bubble.className = "bubble";
      window.renderChatText(bubble, text);
      item.appendChild(bubble);
      if (meta) {
        const note = document.createElement("p");
        note.className = "said-by";
        note.textContent = meta;
        item.appendChild(note);
      }
      tryTranscript.appendChild(item);
      return item;
    }
    // Why a message was refused, with what to do: sign in again (a link back here), or reload.
    function refused(status, error) {
      if (status === 401) {
        const item = line("bot error", "Your session has expired: sign in again.");
        const link = document.createElement("a");
        link.href = "/console/signin?next=" + encodeURIComponent(location.pathname + location.search);
        link.textContent = "Sign in again";
        const para = document.createElement("p");
        para.appendChild(link);
        item.appendChild(para);
        return;
      }
      line("bot error", error || (status === 403
        ? "This page's security token is out of date: reload the page and try again."
        : "Something went wrong (" + status + "). Try again in a moment."));
    }
    async function send(fields, shown) {
      line("customer", shown);
      let response;
      try {
        response = await fetch("/console/try/say", {
          method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": sayForm.dataset.csrf },
          body: JSON.stringify(Object.assign({ conversation: conversation }, fields)),
        });
      } catch (error) {
        line("bot error", "The bot could not be reached: check the connection and try again.");
        return;
      }
      const data = await response.json().catch(function () { return {}; });
      if (!response.ok) { refused(response.status, data.error); return; }
      const meta = data.action + (data.handler ? " · handler " + data.handler : "") +
        (data.faq_id ? " · FAQ " + data.faq_id : "") + " · " + data.reason;
      const item = line("bot", data.reply || "(nothing: a person has the conversation)", meta);
      if (data.buttons.length) {
        const row = document.createElement("div");
        row.className = "choices";
        data.buttons.forEach(function (b) {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "secondary";
          button.textContent = b.label;
          button.addEventListener("click", function () { send({ choice: b.payload }, b.label); });
          row.appendChild(button);
        });
        item.appendChild(row);
      }
    }
    sayForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const text = textInput.value;
      if (!text.trim()) return;
      textInput.value = "";
      send({ text: text }, text);
    });
    document.getElementById("try-restart").addEventListener("click", function () {
      conversation = Array.from(crypto.getRandomValues(new Uint8Array(8)), function (b) {
        return b.toString(16).padStart(2, "0");
      }).join("");
      tryTranscript.textContent = "";
      textInput.focus();
    });
  }
})();
