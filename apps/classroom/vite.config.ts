import vue from '@vitejs/plugin-vue';
import { defaultClientConditions, defineConfig } from 'vite';

const gateway = process.env.CLASSWIRE_GATEWAY ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [vue()],
  // Bundle the workspace packages from their TypeScript sources: the app never depends on a stale dist.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: true },
  // `npm run dev -w apps/classroom` next to a running gateway: tokens and the socket go to it.
  server: {
    proxy: {
      '/dev/token': gateway,
      '/ws': { target: gateway.replace(/^http/, 'ws'), ws: true },
    },
  },
});
