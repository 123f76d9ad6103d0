// A refused form: move the focus to the summary of what needs correcting (it links to each field).
(function () {
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
