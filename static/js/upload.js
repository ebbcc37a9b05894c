// Drag and drop onto the upload form: dropped files go into the real <input type=file>,
// so the form posts the same way with or without JavaScript.
document.querySelectorAll("[data-dropzone]").forEach((form) => {
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".dropzone");
  const chosen = form.querySelector("[data-chosen]");
  const show = () => {
    const names = Array.from(input.files).map((f) => f.name);
    chosen.textContent = names.length ? `${names.length} file${names.length > 1 ? "s" : ""}: ${names.join(", ")}` : "";
  };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    }),
  );
  ["dragleave", "drop"].forEach((type) =>
    zone.addEventListener(type, () => zone.classList.remove("over")),
  );
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    show();
  });
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Uploading…";
  });
});
