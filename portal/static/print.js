// Shows the print button of a print page and prints when it is pressed. Without this script
// the page still prints with the browser's own print command.
document.querySelectorAll('[data-action="print"]').forEach(function (button) {
  button.hidden = false;
  button.addEventListener('click', function () { window.print(); });
});
