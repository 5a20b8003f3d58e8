// The web chat: sends messages to /api/chat and shows replies, choices and feedback buttons.
// Every text is put on the page with textContent (never innerHTML), so neither FAQ answers nor
// user messages can inject markup; Markdown links [text](https://...) become real links.
// The conversation is fetched again on load (/api/chat/history), and while a person from the
// support team has it, their messages arrive live (/api/chat/events, server-sent events).
(function () {
  "use strict";
  const messages = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const send = document.getElementById("send");
  const sessionId = (function () {
    let id = localStorage.getItem("supportbot-session");
    if (!id || !/^[A-Za-z0-9_-]{8,100}$/.test(id)) {
      id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(36).slice(2))
        .replace(/[^A-Za-z0-9_-]/g, "");
      localStorage.setItem("supportbot-session", id);
    }
    return id;
  })();

  function addMessage(kind, text) {
    const item = document.createElement("li");
    item.className = "message " + kind;
    window.renderChatText(item, text);
    messages.appendChild(item);
    messages.scrollTop = messages.scrollHeight;
    return item;
  }

  function addStaffMessage(author, text) {
    const item = addMessage("staff", text);
    const who = document.createElement("span");
    who.className = "author";
    who.textContent = (author || "Support team") + " · support team";
    item.insertBefore(who, item.firstChild);
    return item;
  }

  function addNote(text) {
    const item = document.createElement("li");
    item.className = "note";
    item.textContent = text;
    messages.appendChild(item);
    messages.scrollTop = messages.scrollHeight;
  }

  function showLine(line) {
    if (line.role === "customer") addMessage("user", line.text);
    else if (line.role === "bot" && line.text) addMessage("bot", line.text);
    else if (line.role === "staff") addStaffMessage(line.author, line.text);
    else if (line.role === "event" && line.kind === "claimed") addNote((line.author || "Someone") + " from our support team joined the conversation.");
    else if (line.role === "event" && line.kind === "closed") addNote("The support team handed you back to the assistant. Ask me anything.");
  }

  // Staff messages, live, while a handoff is open; the stream ends when it is handed back.
  let stream = null;
  function listen(after) {
    if (stream || !window.EventSource) return;
    let url = "/api/chat/events?session_id=" + encodeURIComponent(sessionId);
    if (after) url += "&after=" + encodeURIComponent(after);
    stream = new EventSource(url);
    stream.onmessage = function (event) {
      const line = JSON.parse(event.data);
      showLine(line);
      if (line.role === "event" && line.kind === "closed") { stream.close(); stream = null; }
    };
  }

  function addChoices(item, buttons) {
    if (!buttons.length) return;
    const row = document.createElement("div");
    row.className = "choices";
    for (const b of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.label;
      button.addEventListener("click", function () {
        row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        ask({ choice: b.payload }, b.label);
      });
      row.appendChild(button);
    }
    item.appendChild(row);
  }

  function addFeedback(item, turnId) {
    const row = document.createElement("div");
    row.className = "feedback";
    const question = document.createElement("span");
    question.className = "feedback-question";
    question.textContent = "Was this helpful?";
    row.appendChild(question);
    [["up", "Yes"], ["down", "No"]].forEach(function (spec) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = spec[1];
      button.setAttribute("aria-label", spec[0] === "up" ? "Helpful" : "Not helpful");
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", async function () {
        row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        button.setAttribute("aria-pressed", "true");
        await post("/api/feedback", { session_id: sessionId, turn_id: turnId, value: spec[0] });
      });
      row.appendChild(button);
    });
    item.appendChild(row);
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return data;
  }

  async function ask(fields, shownText) {
    addMessage("user", shownText);
    send.disabled = true;
    try {
      const data = await post("/api/chat", Object.assign({ session_id: sessionId }, fields));
      if (data.reply) {  // with a person, the bot says nothing
        const item = addMessage("bot", data.reply);
        item.dataset.action = data.action;
        addChoices(item, data.buttons || []);
        if (data.feedback && data.turn_id) addFeedback(item, data.turn_id);
      }
      if (data.handoff_state) listen(null);
    } catch (error) {
      addMessage("bot error", "Sorry, something went wrong (" + error.message + "). Please try again.");
    } finally {
      send.disabled = false;
      input.focus();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    ask({ text: text }, text);
  });
  (async function restore() {
    let history = null;
    try {
      const response = await fetch("/api/chat/history?session_id=" + encodeURIComponent(sessionId));
      if (response.ok) history = await response.json();
    } catch (error) { /* offline: start afresh */ }
    if (!history || !history.messages.length) {
      addMessage("bot", "Hello! How can I help you today?");
      return;
    }
    history.messages.forEach(showLine);
    if (history.handoff_state) listen(history.cursor);
  })();
})();
