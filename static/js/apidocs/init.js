// Starts Swagger UI on /api/docs. It lives in a file of its own because the Content-Security-Policy allows no inline
// script; the document's URL comes from the page's data-spec-url attribute.
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
    validatorUrl: "none"
  });
})();
