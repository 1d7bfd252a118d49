// Console behaviour shared by every page: forms whose button has data-confirm ask first.
// Loaded as an external module (the CSP forbids inline scripts).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
