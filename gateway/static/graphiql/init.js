// Bootstraps GraphiQL from the vendored UMD globals (React, ReactDOM, GraphiQL,
// GraphiQLPluginExplorer). Kept external so the page needs no inline script under its CSP.
(function () {
  "use strict";

  // react-remove-scroll (GraphiQL's dialogs and menus) injects a <style> element and tags it
  // with the global __webpack_nonce__; give it this script's nonce so style-src allows it.
  var script = document.currentScript;
  if (script && script.nonce) {
    window.__webpack_nonce__ = script.nonce;
  }

  function start() {
    var root = document.getElementById("graphiql");
    var endpoint = root.getAttribute("data-endpoint") || "/graphql";
    var url = new URL(endpoint, window.location.href);
    var subscriptionUrl = new URL(url.href);
    subscriptionUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";

    var fetcher = GraphiQL.createFetcher({
      url: url.href,
      subscriptionUrl: subscriptionUrl.href,
    });
    var explorer = GraphiQLPluginExplorer.explorerPlugin();

    root.textContent = "";
    ReactDOM.createRoot(root).render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        plugins: [explorer],
        isHeadersEditorEnabled: true,
        defaultEditorToolsVisibility: true,
        shouldPersistHeaders: false,
      })
    );
  }

  // Scripts are `defer`red, so the DOM is parsed by now; guard anyway for other loaders.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
