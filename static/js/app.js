// Ledgerdesk: the little behaviour the pages need, with no inline script (the CSP forbids it).
(function () {
  "use strict";
  function dismissLater(toast) {
    setTimeout(function () { toast.classList.add("toast-hide"); setTimeout(function () { toast.remove(); }, 400); }, 6000);
  }
  document.addEventListener("click", function (e) {
    var close = e.target.closest(".toast-close");
    if (close) { close.parentElement.remove(); }
    var confirmEl = e.target.closest("a[data-confirm], button[data-confirm]");
    if (confirmEl && !window.confirm(confirmEl.getAttribute("data-confirm"))) { e.preventDefault(); e.stopImmediatePropagation(); }
    var menu = e.target.closest("[data-menu-toggle]");
    document.querySelectorAll(".menu.open").forEach(function (m) { if (!menu || m !== menu.parentElement) m.classList.remove("open"); });
    if (menu) { menu.parentElement.classList.toggle("open"); e.preventDefault(); }
  }, true);
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
  }, true);
  // Filters: a text or search box in an auto-submit form searches on Enter, the Filter button or its own
  // keyup trigger, never on blur too; otherwise typing then clicking Filter sends two requests and the
  // late one can land over the next click (a sort, a page).
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("input[type=text], input[type=search], input:not([type])") && t.closest("form[data-autosubmit]")) {
      e.stopPropagation();
    }
  }, true);
  // Filters: a change in an auto-submit form submits it (htmx takes over where hx-get is set).
  document.addEventListener("change", function (e) {
    var form = e.target.closest("form[data-autosubmit]");
    if (form && !form.hasAttribute("hx-get")) { form.requestSubmit(); }
  });
  function showToast(level, message) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = document.createElement("div");
    t.className = "toast toast-" + (level || "info");
    t.setAttribute("role", "status");
    t.textContent = message;
    box.appendChild(t);
    dismissLater(t);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.body.addEventListener("toast", function (e) { showToast(e.detail.level, e.detail.message); });
    document.querySelectorAll(".toast").forEach(dismissLater);
  });
})();
