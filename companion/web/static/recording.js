// Ask once more before a delete form is sent.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// Share the PDF report (phones: the system share sheet), when the browser can share files.
(() => {
  const button = document.getElementById("share");
  if (!button || !navigator.canShare) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      const response = await fetch(button.dataset.url);
      const file = new File([await response.blob()], button.dataset.name, { type: "application/pdf" });
      if (navigator.canShare({ files: [file] })) await navigator.share({ files: [file], title: button.dataset.name });
      else window.location.href = button.dataset.url;
    } catch (err) {
      if (err.name !== "AbortError") window.location.href = button.dataset.url;
    }
  });
})();
