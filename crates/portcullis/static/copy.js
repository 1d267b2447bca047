// "Copy" buttons: <button type="button" data-copy="ID" hidden> copies the text of the
// element with that id. The buttons stay hidden without JavaScript, where they could
// do nothing; the text can still be selected and copied by hand.
(function () {
  "use strict";

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyText(element) {
    var text = element.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (a development server): the older way, through a selection.
    return new Promise(function (resolve, reject) {
      selectText(element);
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      if (ok) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  function setup(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    var label = button.textContent;
    var status = document.createElement("span");
    status.className = "copy-status";
    status.setAttribute("role", "status");
    button.insertAdjacentElement("afterend", status);
    var timer = null;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(target).then(
        function () {
          button.textContent = "Copied";
          status.textContent = "Copied to the clipboard.";
        },
        function () {
          selectText(target);
          status.textContent = "Press Ctrl+C (or \u2318C) to copy the selected text.";
        }
      );
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        button.textContent = label;
        status.textContent = "";
      }, 4000);
    });
  }

  function init() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      setup(buttons[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
