// The web chat: sends messages to /api/chat and shows replies, choices and feedback buttons.
// Every text is put on the page with textContent (never innerHTML), so neither FAQ answers nor
// user messages can inject markup; Markdown links [text](https://...) become real links.
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
      const item = addMessage("bot", data.reply);
      item.dataset.action = data.action;
      addChoices(item, data.buttons || []);
      if (data.feedback && data.turn_id) addFeedback(item, data.turn_id);
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
  addMessage("bot", "Hello! How can I help you today?");
})();
