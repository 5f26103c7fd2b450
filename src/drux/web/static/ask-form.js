// The ask form: the panel picker and the model checkboxes are alternatives.
(function () {
  "use strict";
  var form = document.querySelector(".ask-form");
  if (!form) return;
  var select = form.querySelector('select[name="panel"]');
  var boxes = form.querySelectorAll('input[name="models"]');
  var radios = form.querySelectorAll('input[name="mode"]');

  function sync() {
    var mode = form.querySelector('input[name="mode"]:checked');
    var models = mode && mode.value === "models";
    select.disabled = models;
    form.classList.toggle("mode-models", models);
  }

  radios.forEach(function (r) { r.addEventListener("change", sync); });
  boxes.forEach(function (b) {
    b.addEventListener("change", function () {
      if (b.checked) {
        form.querySelector('input[name="mode"][value="models"]').checked = true;
        sync();
      }
    });
  });
  select.addEventListener("focus", function () {
    form.querySelector('input[name="mode"][value="panel"]').checked = true;
    sync();
  });
  form.addEventListener("submit", function () {
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    button.textContent = "Asking…";
  });
  window.addEventListener("pageshow", function () {
    var button = form.querySelector('button[type="submit"]');
    button.disabled = false;
    button.textContent = "Ask";
  });
  sync();
})();
