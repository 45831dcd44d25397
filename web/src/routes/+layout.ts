// A client-rendered single-page app: the server hands out index.html for every page.
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';
