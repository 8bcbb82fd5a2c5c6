// The Subscriptions page's Copy buttons: the clipboard, else a selection
// the user copies (the clipboard API wants https or localhost).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  const field = button && document.getElementById(button.dataset.copy);
  if (!field) {
    return;
  }
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = "Copied";
  } catch {
    field.focus();
    field.select();
    const copied = document.execCommand("copy");
    button.textContent = copied ? "Copied" : "Press Ctrl+C";
  }
});
