import { sveltekit } from '@sveltejs/kit/vite';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vite';

// `npm run dev` proxies the API to a running server (UNMOGROWP_URL, default port 8080).
const api = process.env.UNMOGROWP_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
	plugins: [tailwindcss(), sveltekit()],
	server: {
		proxy: {
			'/api': { target: api, ws: true },
			'/v1': api,
			'/c/': api,
			'/i/': api
		}
	},
	build: {
		chunkSizeWarningLimit: 700,
		rollupOptions: {
			output: {
				// zxcvbn's dictionaries (loaded only where a password is chosen) one chunk each:
				// together they are 1.6 MB, and separate files download in parallel.
				manualChunks(id) {
					const dictionary = /@zxcvbn-ts\/language-[a-z]+\/dist\/([a-zA-Z]+)\.json\.mjs$/.exec(id);
					return dictionary ? `zxcvbn-${dictionary[1]}` : undefined;
				}
			}
		}
	}
});
