// Builds the page into dist/ with relative asset URLs, so it can be served under any path
// (`wdk serve --chat ... --chat-page web/chat/dist` serves it at /chat/).
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rolldownOptions: {
      onLog(level, log, handler) {
        // swr marks its modules 'use client' (a React Server Components hint): meaningless in a
        // client-only bundle.
        if (log.code === 'MODULE_LEVEL_DIRECTIVE') return;
        handler(level, log);
      },
    },
  },
});
