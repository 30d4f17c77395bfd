// "Go back" on error pages: the browser's own back, so a patient returns to the form they filled
// in (browsers keep what was typed). Without history the link's own address is the way out.
document.querySelectorAll("a[data-back]").forEach(function (link) {
  link.addEventListener("click", function (event) {
    if (window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
});
