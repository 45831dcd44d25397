// Starts GraphiQL on the page `GET /api/graphql` serves. Requests go to this server's
// /api/graphql; paste a token in the Headers tab: {"Authorization": "Bearer unm_…"} (an API
// token from the dashboard's API tokens page) or an access token.
(function () {
	const fetcher = GraphiQL.createFetcher({ url: '/api/graphql' });
	const root = ReactDOM.createRoot(document.getElementById('graphiql'));
	root.render(
		React.createElement(GraphiQL, {
			fetcher,
			defaultEditorToolsVisibility: true,
			defaultHeaders: JSON.stringify({ Authorization: 'Bearer <your API token>' }, null, 2),
			defaultQuery:
				'# UnMoGrowP GraphQL: your organization, apps and reports.\n' +
				'# Set your token in the Headers tab below, then run.\n' +
				'{\n  organization { name role }\n  apps {\n    id\n    name\n    summary(groupBy: [NETWORK]) {\n      rows { network installs revenue }\n      totals { installs clicks revenue }\n    }\n  }\n}\n'
		})
	);
})();
