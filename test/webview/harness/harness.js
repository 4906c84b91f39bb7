// Stand-in for VS Code's webview host in the page tests: `acquireVsCodeApi`
// records what the page posts (and forwards it to the test's host session when
// one is bound as window.__toHost); state survives reloads like VS Code's
// setState does. CSP violations and errors are recorded for the tests to check.
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  window.__posted = [];
  window.__violations = [];
  window.__errors = [];
  document.addEventListener('securitypolicyviolation', function (e) {
    window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
  });
  window.addEventListener('error', function (e) {
    window.__errors.push(String(e.message));
  });
  var acquired = false;
  window.acquireVsCodeApi = function () {
    if (acquired) throw new Error('acquireVsCodeApi called twice');
    acquired = true;
    return {
      postMessage: function (m) {
        window.__posted.push(JSON.parse(JSON.stringify(m)));
        if (typeof window.__toHost === 'function') window.__toHost(m);
      },
      getState: function () {
        var s = sessionStorage.getItem('vscode-state');
        return s ? JSON.parse(s) : undefined;
      },
      setState: function (s) {
        sessionStorage.setItem('vscode-state', JSON.stringify(s));
      },
    };
  };
  // Like VS Code: the new theme's variables first, then the theme class on <body>.
  window.__setTheme = function (kind) {
    var old = document.getElementById('theme');
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = '/theme-' + kind + '.css';
    link.onload = function () {
      old.remove();
      link.id = 'theme';
      document.body.classList.remove('vscode-light', 'vscode-dark');
      document.body.classList.add('vscode-' + kind);
      document.body.setAttribute('data-vscode-theme-kind', 'vscode-' + kind);
    };
    document.head.appendChild(link);
  };
  document.addEventListener('DOMContentLoaded', function () {
    var kind = params.get('theme') || 'dark';
    document.body.classList.add('vscode-' + kind);
    document.body.setAttribute('data-vscode-theme-kind', 'vscode-' + kind);
  });
})();
