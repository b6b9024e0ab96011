// Starts Swagger UI on /docs. A file, not an inline script, so the page works under a CSP without
// 'unsafe-inline'; the spec URL comes from the page's data-spec-url attribute.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The default validator badge would ask validator.swagger.io about the spec: never leave the host.
    validatorUrl: null,
  });
});
