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
})();
