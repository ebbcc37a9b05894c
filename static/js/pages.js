// Behaviour every page shares, kept out of the HTML: the Content-Security-Policy allows no
// inline scripts, event handler attributes or style attributes (pyq_site/security.py).
(function () {
  "use strict";

  // A form or button with data-confirm="question" asks before it submits.
  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target;
      const button = event.submitter;
      const question = (button && button.dataset.confirm) || form.dataset.confirm;
      if (question && !window.confirm(question)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );

  // Highlight boxes over a page image: data-box="left top width height", in percent.
  function placeBoxes(root) {
    root.querySelectorAll("[data-box]").forEach(function (box) {
      const [left, top, width, height] = box.dataset.box.split(" ").map(Number);
      if ([left, top, width, height].some(Number.isNaN)) return;
      box.style.left = left + "%";
      box.style.top = top + "%";
      box.style.width = width + "%";
      box.style.height = height + "%";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    placeBoxes(document);
  });
  document.addEventListener("htmx:load", function (event) {
    placeBoxes(event.target);
  });
})();
