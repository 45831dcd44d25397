// Copies GraphiQL and the React it runs on (pinned in package.json) from node_modules into
// static/vendor/graphiql/, so the build serves them and `GET /api/graphql` (the GraphiQL page)
// works without internet access. The folder is generated: not kept in git.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = resolve(web, 'static/vendor/graphiql');
const files = [
	['graphiql/graphiql.min.js', 'graphiql.min.js'],
	['graphiql/graphiql.min.css', 'graphiql.min.css'],
	['react/umd/react.production.min.js', 'react.production.min.js'],
	['react-dom/umd/react-dom.production.min.js', 'react-dom.production.min.js']
];
await mkdir(target, { recursive: true });
for (const [from, to] of files) {
	await copyFile(resolve(web, 'node_modules', from), resolve(target, to));
}
console.log(`copy-graphiql: ${files.length} files -> static/vendor/graphiql`);
