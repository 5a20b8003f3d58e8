// How chat text is shown, shared by the web chat and the staff console's preview: text stays
// text (textContent, never innerHTML), and only Markdown links to http(s) become real links.
(function () {
  "use strict";
  const LINK = /\[([^\[\]\n]+)\]\((https?:\/\/[^\s()<>]+)\)/g;  // knowledge.faq.entry.LINK

  window.renderChatText = function (element, text) {
    element.textContent = "";
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      element.appendChild(document.createTextNode(text.slice(last, match.index)));
      const link = document.createElement("a");
      link.href = match[2];
      link.textContent = match[1];
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      element.appendChild(link);
      last = match.index + match[0].length;
    }
    element.appendChild(document.createTextNode(text.slice(last)));
  };
})();
