// Ours, not Swagger UI's: starts the reference from the data attributes of #swagger-ui,
// so the page needs no inline script under its CSP.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
    validatorUrl: "none",
  });
})();
