// Bootstrap for the embedded GraphiQL playground.
//
// Kept in its own file (not inline) so the page's Content-Security-Policy can
// be script-src 'self'. Configuration comes from data-* attributes on
// #graphiql, which the server fills in with HTML attribute escaping.
(function () {
  'use strict';

  var root = document.getElementById('graphiql');
  var cfg = root.dataset;

  // The endpoint is a same-origin path; HTTP queries/mutations go to
  // http(s)://host/path and subscriptions use graphql-transport-ws on
  // ws(s)://host/path.
  var endpoint = cfg.endpoint || '/graphql';
  var url = location.protocol + '//' + location.host + endpoint;
  var wsProto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var subscriptionUrl = wsProto + '//' + location.host + endpoint;

  // The headers editor content is sent as HTTP headers on every request and
  // as the connection_init payload of the websocket.
  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: subscriptionUrl,
  });

  var props = {
    fetcher: fetcher,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    inputValueDeprecation: true,
  };
  if (cfg.defaultHeaders) {
    // Only used until the user edits (and thereby persists) their own headers.
    props.defaultHeaders = cfg.defaultHeaders;
    props.defaultEditorToolsVisibility = 'headers';
  }
  if (cfg.defaultQuery) {
    props.defaultQuery = cfg.defaultQuery;
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
