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
  // A form that posts (records a payment, allocates, pays...) is sent once: its buttons are disabled while
  // the request is in flight and a second submit is ignored (the one-time form token guards the server side,
  // common/form_tokens.py). Disabled a tick later, so the clicked button's own name=value is still sent.
  function postsForm(form) { return form && (form.getAttribute("method") || "").toLowerCase() === "post"; }
  function setPending(form, on) {
    if (on) { form.setAttribute("data-pending", ""); form.setAttribute("aria-busy", "true"); }
    else { form.removeAttribute("data-pending"); form.removeAttribute("aria-busy"); }
    form.querySelectorAll("button:not([type=button]), input[type=submit]").forEach(function (b) {
      if (on && !b.disabled) { b.disabled = true; b.setAttribute("data-pending-disabled", ""); }
      else if (!on && b.hasAttribute("data-pending-disabled")) { b.disabled = false; b.removeAttribute("data-pending-disabled"); }
    });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!postsForm(form) || form.hasAttribute("hx-post")) return;
    if (form.hasAttribute("data-pending")) { e.preventDefault(); return; }
    if (e.defaultPrevented) return;
    form.setAttribute("data-pending", "");
    setTimeout(function () { setPending(form, true); }, 0);
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail && e.detail.elt;
    if (form && form.tagName === "FORM" && form.hasAttribute("hx-post")) {
      if (form.hasAttribute("data-pending")) { e.preventDefault(); return; }
      setPending(form, true);
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail && e.detail.elt;
    if (form && form.tagName === "FORM" && form.hasAttribute("data-pending")) { setPending(form, false); }
  });
  // Back to a page from the browser's cache (the back button): its forms may be sent again.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { document.querySelectorAll("form[data-pending]").forEach(function (f) { setPending(f, false); }); }
  });
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
