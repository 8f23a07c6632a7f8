// Starts GraphiQL against this server's /graphql endpoint. Served by Keel, like every other
// asset of the playground, so it works without internet access.
(function () {
  var endpoint = new URL('/graphql', window.location.href).href;
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: '# Welcome to Keel. Run this query with the ▶ button or Ctrl-Enter.\n{\n  apiVersion\n}\n',
    })
  );
})();
