/* Progress for long uploads, as an enhancement: a form marked data-progress is sent by XHR
   while its <progress> shows how much has gone, then the browser follows the server's
   answer as if the form had been sent the ordinary way (a redirect: go there; a page, such
   as the roster's errors or an error page: show it). Without JavaScript, or on a browser
   without XHR uploads, the form posts as it always does. Hand-written: no build, no CDN. */
(function () {
  "use strict";
  if (!window.XMLHttpRequest || !window.FormData) return;

  function status(form) {
    var text = form.querySelector(".progress-text");
    if (!text) {
      text = document.createElement("span");
      text.className = "progress-text muted";
      text.setAttribute("aria-live", "polite");
      form.appendChild(text);
    }
    return text;
  }

  function show(answer) {
    // the answer replaces this page, as a normal form post would have done
    document.open();
    document.write(answer);
    document.close();
  }

  function send(form, submitter) {
    var bar = form.querySelector("progress");
    var text = status(form);
    var buttons = form.querySelectorAll("button");
    var data = submitter ? new FormData(form, submitter) : new FormData(form);
    var xhr = new XMLHttpRequest();
    function busy(on) {
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = on;
    }
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.max = e.total;
      bar.value = e.loaded;
      text.textContent = "已上传 " + Math.floor((100 * e.loaded) / e.total) + "%";
    });
    xhr.upload.addEventListener("load", function () {
      bar.removeAttribute("value"); // sent: the server reads and checks it (no measure)
      text.textContent = "已上传，正在检查文件…";
    });
    xhr.addEventListener("load", function () {
      var action = new URL(form.action, location.href).href;
      if (xhr.responseURL && xhr.responseURL !== action) {
        location.assign(xhr.responseURL); // the server redirected: follow it
      } else {
        show(xhr.responseText);
      }
    });
    xhr.addEventListener("error", function () {
      busy(false);
      bar.hidden = true;
      text.textContent = "网络中断，文件没有上传完，请重试。";
      text.className = "progress-text error";
    });
    bar.hidden = false;
    bar.value = 0;
    text.textContent = "正在上传…";
    busy(true);
    xhr.send(data);
  }

  function enhance(root) {
    var forms = root.querySelectorAll("form[data-progress]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (e) {
        if (!this.querySelector("progress")) return;
        e.preventDefault();
        send(this, e.submitter);
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  } else {
    enhance(document);
  }
})();
