// learnsync's API reference: starts the vendored Swagger UI (static/vendor/swagger-ui/) on
// /api/openapi.json. No request leaves learnsync: no validator badge, no remote configuration.
(function () {
  "use strict";
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  const csrf = root.dataset.csrf || "";
  window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: false,
    validatorUrl: null,        // the default asks validator.swagger.io for a badge
    queryConfigEnabled: false, // ignore ?url= / ?configUrl= in the address (no remote spec)
    withCredentials: true,
    // plain response bodies: the highlighter's colours on its dark theme are below 4.5:1
    syntaxHighlight: false,
    // "Try it out" runs with the administrator's session: writes need the CSRF token too
    requestInterceptor: function (request) {
      const method = (request.method || "GET").toUpperCase();
      if (method !== "GET" && method !== "HEAD") request.headers["X-CSRF-Token"] = csrf;
      return request;
    },
  });
})();
