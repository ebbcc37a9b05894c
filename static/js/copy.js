// Copy buttons: <button data-copy="#input-id"> copies that input's value to the clipboard.
document.querySelectorAll("[data-copy]").forEach((button) => {
  const input = document.querySelector(button.dataset.copy);
  const status = button.parentElement.querySelector("[data-copy-status]");
  const say = (text) => { if (status) status.textContent = text; };
  button.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      say("Copied.");
    } catch {
      // No clipboard API (plain http, old browser): the key is selected, ready for Ctrl+C.
      say(document.execCommand && document.execCommand("copy") ? "Copied." : "Press Ctrl+C to copy.");
    }
  });
});
