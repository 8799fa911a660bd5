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
  var baseFetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: subscriptionUrl,
  });

  // GraphiQL 4 runs its first schema introspection before the headers editor
  // has mounted, so that request carries no headers and fails against an
  // endpoint that requires an API key. Give header-less introspection the
  // headers the editor is about to show: the persisted headers of the active
  // tab, else the configured default headers.
  function parseHeaders(text) {
    try {
      var h = text ? JSON.parse(text) : null;
      return h && typeof h === 'object' && !Array.isArray(h) ? h : null;
    } catch (e) {
      return null;
    }
  }
  function initialHeaders() {
    try {
      var state = JSON.parse(localStorage.getItem('graphiql:tabState'));
      var tab = state && state.tabs && state.tabs[state.activeTabIndex];
      if (tab && tab.headers) {
        return parseHeaders(tab.headers);
      }
    } catch (e) {
      // No usable persisted state; fall through to the defaults.
    }
    return parseHeaders(cfg.defaultHeaders);
  }
  var fetcher = function (params, opts) {
    if (params && params.operationName === 'IntrospectionQuery' &&
        !(opts && opts.headers)) {
      var headers = initialHeaders();
      if (headers) {
        opts = Object.assign({}, opts, { headers: headers });
      }
    }
    return baseFetcher(params, opts);
  };

  // Headers hold bearer tokens and API keys: GraphiQL keeps them in
  // localStorage only when the server says so (PLAYGROUND_PERSIST_HEADERS).
  var props = {
    fetcher: fetcher,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: cfg.persistHeaders === 'true',
    inputValueDeprecation: true,
  };
  if (cfg.defaultHeaders) {
    // Only used until the user edits their own headers (kept across reloads
    // only with persistence on).
    props.defaultHeaders = cfg.defaultHeaders;
    props.defaultEditorToolsVisibility = 'headers';
  }
  if (cfg.defaultQuery) {
    props.defaultQuery = cfg.defaultQuery;
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
